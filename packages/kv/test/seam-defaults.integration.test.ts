// The seam's defaults (types.ts) as the backends apply them: a watch held up to 60 s, a lock with
// 15 s of TTL and 15 s of lock-delay, whatever the backend.
import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConsulStore, createFileStore } from '@confd-haproxy/kv';
import { startConsulDouble, type ConsulDouble } from '@confd-haproxy/testkit';

async function consul(t: Test): Promise<{ double: ConsulDouble; store: ReturnType<typeof createConsulStore> }> {
  const double = await startConsulDouble();
  const store = createConsulStore({ address: double.address });
  t.teardown(async () => {
    await store.close();
    await double.close();
  });
  return { double, store };
}

/** Poll (bounded) until the double holds a blocking query. */
async function heldQuery(double: ConsulDouble): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (double.blockedQueries === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return double.blockedQueries > 0;
}

/** The URLs of the blocking queries the double received. */
const blockingQueries = (double: ConsulDouble) => double.requests.map((r) => r.url).filter((url) => /[?&]index=/.test(url));

t.test('a Consul watch given no waitMs asks the server to hold it up to 60 s', async (t) => {
  const { double, store } = await consul(t);
  await store.put('d/k', 'v');
  const { index } = await store.list('d/');
  const ac = new AbortController();
  const watching = store.watch('d/', index, { signal: ac.signal }).catch(() => undefined);
  t.ok(await heldQuery(double), 'the watch is held');
  ac.abort();
  await watching;
  t.match(blockingQueries(double), [/^\/v1\/kv\/d%2F\?.*&wait=60000ms/]);
});

t.test('a Consul catalog watch given no waitMs asks the server to hold it up to 60 s', async (t) => {
  const { double, store } = await consul(t);
  const { index } = await store.catalog!.services();
  const ac = new AbortController();
  const watching = store.catalog!.watchServices(index, { signal: ac.signal }).catch(() => undefined);
  t.ok(await heldQuery(double), 'the watch is held');
  ac.abort();
  await watching;
  const blocking = double.requests.filter((r) => r.url.startsWith('/v1/catalog/services') && r.url.includes('index='));
  t.equal(blocking.length, 1, double.requests.map((r) => r.url).join(' '));
  t.match(blocking[0]?.url, /[?&]wait=60000ms(&|$)/);
});

t.test('a Consul lock given no ttlMs or lockDelayMs holds a session of 15 s TTL and 15 s lock-delay', async (t) => {
  const { double, store } = await consul(t);
  const lock = await store.acquireLock('d/lock', { holder: 'h' });
  t.ok(lock, 'taken');
  const sessions = (await (await fetch(`${double.url}/v1/session/list`)).json()) as { TTL: string; LockDelay: number }[];
  t.match(sessions, [{ TTL: '15s', LockDelay: 15_000 * 1e6 }]);
  await lock?.release();
});

t.test('a file store lock given no ttlMs or lockDelayMs keeps 15 s of TTL and 15 s of lock-delay', async (t) => {
  const file = join(t.testdir({}), 'kv.json');
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  const lock = await store.acquireLock('d/lock', { holder: 'h' });
  t.ok(lock, 'taken');
  const meta = (JSON.parse(await readFile(file, 'utf8')) as { '@meta': { sessions: Record<string, { ttlMs: number; lockDelayMs: number }> } })['@meta'];
  t.match(Object.values(meta.sessions), [{ ttlMs: 15_000, lockDelayMs: 15_000 }]);
  await lock?.release();
});
