// A bad entry never removes a section the current dest serves. On a new host (an empty
// --state-dir: no last good value) a bad value under haproxy/memcached/mem1 keeps mem1's listen as
// the running haproxy.cfg has it — its clients keep being answered — while another tag's failover
// in the same pass still reaches HAProxy.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { runOnce } from '@confd-haproxy/renderer';
import { freePort, memcachedPidBehind, quiet, startMemcached, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a bad entry on an empty state dir keeps its listen serving; another tag still fails over', async (t) => {
  const [a, b] = await Promise.all([startMemcached(), startMemcached()]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const work = tempDir('e2e-hold');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'], runtimeApi: true });
  t.teardown(() => stack.stop());
  const [p1, p2] = [await freePort(), await freePort()];
  const entry = (name: string, proxyport: number, ...ms: { port: number }[]) =>
    JSON.stringify({ name, host: '127.0.0.1', port: ms[0]!.port, proxyport, servers: ms.map((m, i) => ({ host: '127.0.0.1', port: m.port, weight: 100, role: i === 0 ? 'active' : 'backup' })) });
  const store = createFileStore({ file: join(stack.dir, 'kv.json') });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/mem1', entry('mem1', p1, a));
  await store.put('haproxy/memcached/mem2', entry('mem2', p2, b, a));
  const opts = { store, confdir: stack.dir, logger: quiet, signal: new AbortController().signal, env: stack.env };
  t.equal((await runOnce({ ...opts, stateDir: join(work, 'old-host') })).exitCode, 0, 'the first render');
  const reaches = async (port: number, pid: number) => {
    for (let i = 0; i < 100; i++) {
      if ((await memcachedPidBehind(port)) === pid) return true;
      await sleep(50);
    }
    return false;
  };
  t.ok(await reaches(p1, a.pid), 'mem1 serves a');
  t.ok(await reaches(p2, b.pid), 'mem2 serves b');

  // A new host: no last good value. mem1 turns bad; mem2 fails over to a in the same change.
  await store.put('haproxy/memcached/mem1', JSON.stringify({ name: 'mem 1', host: '127.0.0.1', port: a.port, proxyport: p1 }));
  await store.put('haproxy/memcached/mem2', entry('mem2', p2, a, b));
  const pass = await runOnce({ ...opts, stateDir: join(work, 'new-host') });
  t.equal(pass.exitCode, 65, '-onetime says a bad entry was refused');
  t.match(pass.badEntries, [{ key: 'haproxy/memcached/mem1', fallback: 'kept' }], 'kept as dest serves it');
  const cfg = readFileSync(stack.dest, 'utf8');
  t.match(cfg, new RegExp(`listen mem1\\n\\s+bind 0\\.0\\.0\\.0:${p1}`), 'listen mem1 is still in haproxy.cfg');
  t.ok(await reaches(p2, a.pid), "mem2's failover reached HAProxy");
  t.ok(await reaches(p1, a.pid), "mem1's clients are still answered");
});
