// The whole system on real processes: memcached, checkmemcached's loop, the store, the renderer in
// watch mode, and HAProxy in master-worker mode reloaded through its master CLI. A client asks the
// backend behind the proxyport who it is; the active memcached is killed; the next connections
// reach the other one. Once over the file store and once over the Consul double.
import t from 'tap';
import type { Test } from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { TagChecker, runTagChecker } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { createConsulStore, createFileStore, type KVStore } from '@confd-haproxy/kv';
import { runWatch, type PassResult } from '@confd-haproxy/renderer';
import { freePort, memcachedPidBehind, quiet, startConsulDouble, startMemcached, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function scenario(t: Test, makeStore: () => Promise<{ store: () => KVStore; close(): Promise<void> }>) {
  const [a, b] = [await startMemcached(), await startMemcached()];
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const stores = await makeStore();
  t.teardown(() => stores.close());
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'] });
  t.teardown(() => stack.stop());
  const proxyport = await freePort();
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const checkerStore = stores.store();
  const rendererStore = stores.store();
  t.teardown(async () => {
    await checkerStore.close();
    await rendererStore.close();
  });
  const kind = memcachedKind({ tag: 'mem', servers: [a, b].map((m) => ({ host: m.host, port: m.port })), proxyport });
  const checker = new TagChecker({ tag: 'mem', kind, store: checkerStore, logger: quiet, checker: 'e2e:1', timeoutMs: 300, retryUp: 2, retryDown: 1, lockTtlMs: 10_000 });
  const checking = runTagChecker(checker, { intervalMs: 250, signal: ac.signal });
  const passes: PassResult[] = [];
  const rendering = runWatch({
    store: rendererStore,
    confdir: stack.dir,
    logger: quiet,
    signal: ac.signal,
    env: stack.env,
    wait: { minMs: 50, maxMs: 500 },
    onPass: (p) => passes.push(p),
  });
  t.teardown(async () => {
    ac.abort();
    await Promise.all([checking, rendering]);
  });

  /** Whether check() holds within ms (tried every 50 ms). */
  const within = async (ms: number, check: () => Promise<boolean> | boolean) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await sleep(50);
    }
    return false;
  };
  const answers = (pid: number, ms: number) => within(ms, async () => (await memcachedPidBehind(proxyport)) === pid);
  t.ok(await answers(a.pid, 20_000), 'clients reach the first memcached through HAProxy');
  a.kill('SIGKILL');
  const killed = Date.now();
  t.ok(await answers(b.pid, 10_000), `after the active one is killed, clients reach the other (${Date.now() - killed} ms)`);
  // The runtime API may move clients first; the reload of the new file follows its quiet period.
  t.ok(await within(10_000, () => passes.some((p) => p.reloads.some((r) => r.ok) && p.resources.some((r) => r.checked))), 'HAProxy was reloaded through its master CLI after haproxy -c passed');
  t.notOk(passes.some((p) => p.resources.some((r) => r.rolledBack)), 'no reload was rolled back');
}

t.test('failover over the file store', (t) =>
  scenario(t, async () => {
    const dir = tempDir('e2e-kv');
    const file = join(dir, 'kv.json');
    return { store: () => createFileStore({ file, pollMs: 200 }), close: async () => rmSync(dir, { recursive: true, force: true }) };
  }),
);

t.test('failover over the Consul double', (t) =>
  scenario(t, async () => {
    const double = await startConsulDouble();
    return { store: () => createConsulStore({ address: double.address }), close: () => double.close() };
  }),
);
