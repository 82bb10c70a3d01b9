// The fast path: a change that only moves servers goes to HAProxy's runtime API at once, without
// waiting for the renderer's quiet period (set to a minute here, so only the fast path can apply it
// within the test's bounded waits), and haproxy.cfg is written too so a later reload keeps it.
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { runOnce, runWatch, type PassResult } from '@confd-haproxy/renderer';
import { freePort, memcachedPidBehind, quiet, startMemcached, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('moving the active server is applied through the runtime API before the quiet period ends', async (t) => {
  const mems = await Promise.all([startMemcached(), startMemcached()]);
  t.teardown(() => Promise.all(mems.map((m) => m.stop())));
  const [a, b] = mems as [(typeof mems)[0], (typeof mems)[0]];
  const work = tempDir('e2e-fast-path');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const reloads = join(work, 'reloads');
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'], runtimeApi: true, beforeReload: `echo r >> ${reloads}` });
  t.teardown(() => stack.stop());
  const port = await freePort();
  const entry = (...ms: (typeof mems)[number][]) =>
    JSON.stringify({ name: 'mem', host: '127.0.0.1', port: ms[0]!.port, proxyport: port, servers: ms.map((m, i) => ({ host: '127.0.0.1', port: m.port, weight: 100, role: i === 0 ? 'active' : 'backup' })), version: 1 });
  const store = createFileStore({ file: join(stack.dir, 'kv.json'), pollMs: 200 });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/mem', entry(a, b));
  const signal = new AbortController().signal;
  t.ok((await runOnce({ store, confdir: stack.dir, logger: quiet, signal, env: stack.env })).ok, 'the first render (a reload) is done once');
  const reaches = async (pid: number) => {
    for (let i = 0; i < 200; i++) {
      if ((await memcachedPidBehind(port)) === pid) return true;
      await sleep(50);
    }
    return false;
  };
  t.ok(await reaches(a.pid), 'clients reach a');

  const ac = new AbortController();
  const passes: PassResult[] = [];
  const rendering = runWatch({ store, confdir: stack.dir, logger: quiet, signal: ac.signal, env: stack.env, wait: { minMs: 60_000, maxMs: 120_000 }, onPass: (p) => passes.push(p) });
  t.teardown(async () => {
    ac.abort();
    await rendering;
  });
  await sleep(200); // the watch's first answer (nothing to do) comes and goes
  await store.put('haproxy/memcached/mem', entry(b, a));
  t.ok(await reaches(b.pid), 'after the active server moved, clients reach b');
  t.equal(readFileSync(reloads, 'utf8').split('\n').filter(Boolean).length, 1, 'with no reload beyond the first');
  // The runtime API goes first; the pass ends once the file is checked and swapped.
  const runtimePass = () => passes.find((p) => p.resources[0]?.runtime?.length);
  for (let i = 0; i < 200 && !runtimePass(); i++) await sleep(50);
  const fast = runtimePass();
  t.same(fast?.deferred, [], 'a runtime-only pass applied it and left nothing for the full pass');
  t.match(readFileSync(stack.dest, 'utf8'), new RegExp(`server mem-memcached-0 127\\.0\\.0\\.1:${b.port} `), 'and haproxy.cfg says so, for the next reload');
});
