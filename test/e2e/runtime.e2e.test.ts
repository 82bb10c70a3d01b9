// Updates without a reload: when only server addresses change inside existing backends, the
// renderer applies them through HAProxy's runtime API, writes the file so a restart matches, and
// runs no reload; a structural change still reloads.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch, type PassResult } from '@confd-haproxy/renderer';
import { freePort, memcachedPidBehind, quiet, startMemcached, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


t.test('moving the active server is applied through the runtime API without a reload', async (t) => {
  const mems = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
  t.teardown(() => Promise.all(mems.map((m) => m.stop())));
  const [a, b, c] = mems as [(typeof mems)[0], (typeof mems)[0], (typeof mems)[0]];
  const work = tempDir('e2e-runtime');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const reloads = join(work, 'reloads');
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'], runtimeApi: true, beforeReload: `echo r >> ${reloads}` });
  t.teardown(() => stack.stop());
  const { dir, dest } = stack;
  const port = await freePort();
  const entry = (...ms: (typeof mems)[number][]) =>
    JSON.stringify({ name: 'mem', host: '127.0.0.1', port: ms[0]!.port, proxyport: port, servers: ms.map((m, i) => ({ host: '127.0.0.1', port: m.port, weight: 100, role: i === 0 ? 'active' : 'backup' })), version: 1 });
  const store = createFileStore({ file: join(dir, 'kv.json'), pollMs: 200 });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/mem', entry(a, b));
  const ac = new AbortController();
  const passes: PassResult[] = [];
  const rendering = runWatch({ store, confdir: dir, logger: quiet, signal: ac.signal, env: stack.env, wait: { minMs: 20, maxMs: 300 }, onPass: (p) => passes.push(p) });
  t.teardown(async () => {
    ac.abort();
    await rendering;
  });
  const reaches = async (pid: number) => {
    for (let i = 0; i < 200; i++) {
      if ((await memcachedPidBehind(port)) === pid) return true;
      await sleep(50);
    }
    return false;
  };
  const count = () => readFileSync(reloads, 'utf8').split('\n').filter(Boolean).length;
  t.ok(await reaches(a.pid), 'the first render reloads HAProxy and clients reach a');
  t.equal(count(), 1);

  await store.put('haproxy/memcached/mem', entry(b, a));
  t.ok(await reaches(b.pid), 'after the active server moved, clients reach b');
  t.equal(count(), 1, 'without a reload');
  // The runtime API goes first; the pass ends once the file is checked and swapped.
  const runtimePass = () => passes.find((p) => p.resources[0]?.runtime?.length);
  for (let i = 0; i < 200 && !runtimePass(); i++) await sleep(50);
  const applied = runtimePass();
  t.match(applied?.resources[0]?.runtime, [`set server mem/mem-memcached-0 addr 127.0.0.1 port ${b.port}`, `set server mem/mem-memcached-1 addr 127.0.0.1 port ${a.port}`]);
  t.match(readFileSync(dest, 'utf8'), new RegExp(`server mem-memcached-0 127\\.0\\.0\\.1:${b.port} `), 'and the file on disk says so too, for the next restart');

  await store.put('haproxy/memcached/mem', entry(c, a, b));
  t.ok(await reaches(c.pid), 'a new server is a structural change');
  t.equal(count(), 2, 'and reloads');
});
