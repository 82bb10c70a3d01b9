// The heartbeat on a real Redis: PING on the kept connection to the master between passes.
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type PassReport, type Target } from '@confd-haproxy/checker';
import { redisKind } from '@confd-haproxy/check-redis';
import { startDelayProxy, startRedis, startRedisSet, until } from '@confd-haproxy/testkit';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const KEY = 'haproxy/redis/cache';

function loop(t: Test, servers: Target[], o: { intervalMs: number; timeoutMs: number; heartbeatMs: number }) {
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const kind = redisKind({ tag: 'cache', servers, proxyport: 16379 });
  const checker = new TagChecker({ tag: 'cache', kind, store, logger: quiet, checker: 'test:1', timeoutMs: o.timeoutMs, heartbeatMs: o.heartbeatMs, retryUp: 1, retryDown: 1, lockTtlMs: 15_000 });
  const reports: PassReport[] = [];
  const ac = new AbortController();
  const running = runTagChecker(checker, { intervalMs: o.intervalMs, signal: ac.signal, onPass: (r) => reports.push(r) });
  t.teardown(async () => {
    ac.abort();
    await running;
    await store.close();
  });
  const activePort = async () => (JSON.parse((await store.get(KEY))?.value ?? '{}') as { port?: number }).port;
  return { reports, activePort };
}

t.test('a stopped master is found by its heartbeat and the promoted replica written long before the next pass', async (t) => {
  const set = await startRedisSet({ replicas: 1 });
  t.teardown(() => set.stop());
  const [primary, replica] = [set.primary, set.replicas[0]!];
  // Interval 5 s, timeout 300 ms: only the heartbeat (every 100 ms) can find the stop within 2 s.
  const c = loop(t, [primary, replica].map((h) => ({ host: h.host, port: h.port })), { intervalMs: 5000, timeoutMs: 300, heartbeatMs: 100 });
  t.ok(await until(async () => (await c.activePort()) === primary.port, 10_000, 20), 'the master is active');
  const t0 = Date.now();
  primary.kill('SIGSTOP');
  t.equal(await replica.cli('REPLICAOF', 'NO', 'ONE'), 'OK', 'the replica is promoted');
  t.ok(await until(async () => (await c.activePort()) === replica.port, 4000, 10), 'the entry moved to the promoted replica');
  const ms = Date.now() - t0;
  t.ok(ms < 2000, `moved after ${ms} ms (heartbeat 100 ms + timeout 300 ms; the next pass was ~5 s away)`);
  // The report follows the write by a tick.
  t.ok(await until(() => c.reports.some((r) => r.wrote && r.entry?.port === replica.port), 1000, 10), 'the move was reported');
  const moved = c.reports.find((r) => r.wrote && r.entry?.port === replica.port);
  t.equal(moved?.trigger, 'heartbeat', 'the pass the failed heartbeat started wrote it');
  t.match(moved?.results.find((x) => x.target.port === replica.port)?.result, { ok: true }, 'the replica was asked again in that pass');
});

t.test('a Redis answering 300 ms late under a 500 ms deadline never flaps', async (t) => {
  const redis = await startRedis();
  const slow = await startDelayProxy({ target: redis, delayMs: 300 });
  t.teardown(async () => {
    await slow.close();
    await redis.stop();
  });
  const c = loop(t, [{ host: slow.host, port: slow.port }], { intervalMs: 1000, timeoutMs: 500, heartbeatMs: 100 });
  t.ok(await until(async () => (await c.activePort()) === slow.port, 10_000, 20), 'the slow master is active');
  t.ok(await until(() => c.reports.filter((r) => r.trigger === 'interval').length >= 4, 15_000, 50), 'four passes ran');
  t.same(c.reports.filter((r) => r.trigger === 'heartbeat'), [], 'no heartbeat failed');
  t.ok(c.reports.every((r) => r.results.every((x) => x.result.ok)), 'no probe failed');
  t.equal(c.reports.filter((r) => r.wrote).length, 1, 'only the first entry was written');
});
