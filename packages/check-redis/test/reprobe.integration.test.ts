// Event-driven detection on a real Redis: a kept connection closed by the server is probed again
// at once; a server that lives through it keeps the entry even at retry-down 1.
import t from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type PassReport } from '@confd-haproxy/checker';
import { redisKind, RedisConnection } from '@confd-haproxy/check-redis';
import { quiet, startRedis } from '@confd-haproxy/testkit';


t.test('a connection killed by the server (CLIENT KILL) is probed again at once and the entry does not flap', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const kind = redisKind({ tag: 'cache', servers: [{ host: redis.host, port: redis.port }] });
  const c = new TagChecker({ tag: 'cache', kind, store, logger: quiet, checker: 'test:1', timeoutMs: 500, retryUp: 1, retryDown: 1, lockTtlMs: 5000, noLock: true });
  const reports: PassReport[] = [];
  const ac = new AbortController();
  // A one-minute interval: only a re-probe can explain a decision within the bounded waits below.
  const running = runTagChecker(c, { intervalMs: 60_000, signal: ac.signal, onPass: (r) => reports.push(r) });
  const admin = new RedisConnection({ host: redis.host, port: redis.port });
  t.teardown(async () => {
    admin.close();
    ac.abort();
    await running;
    await store.close();
  });
  const until = async (match: (r: PassReport) => boolean) => {
    for (let i = 0; i < 1000 && !reports.some(match); i++) await new Promise((done) => setTimeout(done, 10));
    return reports.find(match);
  };
  t.equal((await until((r) => r.trigger === 'interval'))?.entry?.port, redis.port, 'the first pass chose the master');
  const killed = await admin.command(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'], new AbortController().signal);
  t.equal(killed, 1, "the checker's kept connection was closed by the server");
  const again = await until((r) => r.trigger === 'connection-lost');
  t.match(again?.results, [{ target: { port: redis.port }, result: { ok: true } }], 'the re-probe reconnected and passed');
  t.equal(again?.wrote, false, 'nothing was written');
  t.equal(again?.entry?.port, redis.port, 'the entry stayed');
});
