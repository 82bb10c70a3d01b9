// The heartbeat on each kind's real server: a stopped active server (SIGSTOP: nothing closes) is
// found by its heartbeat long before the next pass, and a server that answers slowly but within
// the deadline never makes the entry move.
import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type CheckerKind, type PassReport, type Target } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { redisKind } from '@confd-haproxy/check-redis';
import { mysqlKind, tagConfig } from '@confd-haproxy/check-mysql';
import { MONITOR, quiet, runUntilTeardown, startDelayProxy, startMemcached, startRedis, startRedisSet, startReplicationSet, until } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../..', import.meta.url));
const address = (h: Target): Target => ({ host: h.host, port: h.port });

interface Loop {
  reports: PassReport[];
  beats: { ok: number; failed: number };
  /** A report says the entry was written for this port. */
  wrote(port: number): boolean;
}

/** A checker of one tag looping until the test ends (file store, retry-down 1), its heartbeats counted. */
function loop(t: Test, kind: CheckerKind, o: { intervalMs: number; timeoutMs: number; heartbeatMs: number }): Loop {
  const beats = { ok: 0, failed: 0 };
  const heartbeat = kind.heartbeat!.bind(kind);
  const counted: CheckerKind = {
    ...kind,
    heartbeat: async (target, signal) => {
      const r = await heartbeat(target, signal);
      beats[r.ok ? 'ok' : 'failed']++;
      return r;
    },
  };
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const c = new TagChecker({ tag: 't', kind: counted, store, logger: quiet, checker: 'test:1', ...o, retryUp: 1, retryDown: 1, lockTtlMs: 15_000 });
  const reports: PassReport[] = [];
  runUntilTeardown(t, (signal) => runTagChecker(c, { intervalMs: o.intervalMs, signal, onPass: (r) => reports.push(r) }), () => store.close());
  return { reports, beats, wrote: (port) => reports.some((r) => r.wrote && r.entry?.port === port) };
}

// Interval 5 s, timeout 300 ms: only the heartbeat (every 100 ms) can find a stop within 2 s.
const STOP_BUDGET = { intervalMs: 5000, timeoutMs: 300, heartbeatMs: 100 };

/** from is active; stop() hangs it: the entry moves to `to` by the failed heartbeat's pass, within 2 s. */
async function stopIsFoundByTheHeartbeat(t: Test, l: Loop, from: Target, to: Target, stop: () => unknown): Promise<void> {
  t.ok(await until(() => l.wrote(from.port), 10_000, 20), 'the first server is active');
  t.ok(await until(() => l.beats.ok >= 2, 3000, 20), 'heartbeats answered');
  const t0 = Date.now();
  await stop();
  t.ok(await until(() => l.wrote(to.port), 4000, 10), 'the entry moved');
  const ms = Date.now() - t0;
  t.ok(ms < 2000, `moved after ${ms} ms (heartbeat 100 ms + timeout 300 ms; the next pass was ~5 s away)`);
  const moved = l.reports.find((r) => r.wrote && r.entry?.port === to.port);
  t.equal(moved?.trigger, 'heartbeat', 'the pass the failed heartbeat started wrote it');
  t.match(moved?.results.find((x) => x.target.port === from.port)?.result, { ok: false, reason: 'no answer within 300 ms' });
  t.match(moved?.results.find((x) => x.target.port === to.port)?.result, { ok: true }, 'the other was probed afresh in that pass');
}

/** A server behind a 300 ms delay under a 500 ms deadline: four passes and the heartbeats between them, nothing failed, one write. */
async function slowNeverFlaps(t: Test, l: Loop, slow: Target): Promise<void> {
  t.ok(await until(() => l.wrote(slow.port), 10_000, 20), 'the slow server is active');
  t.ok(await until(() => l.reports.filter((r) => r.trigger === 'interval').length >= 4, 15_000, 50), 'four passes ran');
  t.ok(l.beats.ok >= 5, `${l.beats.ok} heartbeats answered through the delay`);
  t.equal(l.beats.failed, 0, 'no heartbeat failed');
  t.ok(l.reports.every((r) => r.results.every((x) => x.result.ok)), 'no probe failed');
  t.equal(l.reports.filter((r) => r.wrote).length, 1, 'only the first entry was written');
}

const SLOW_BUDGET = { intervalMs: 1000, timeoutMs: 500, heartbeatMs: 100 };

t.test('memcached: a stopped active server misses its heartbeat (version) and the entry moves', async (t) => {
  const mems = [await startMemcached(), await startMemcached()];
  t.teardown(() => Promise.all(mems.map((m) => m.stop())));
  const l = loop(t, memcachedKind({ tag: 't', servers: mems.map(address) }), STOP_BUDGET);
  await stopIsFoundByTheHeartbeat(t, l, mems[0]!, mems[1]!, () => mems[0]!.kill('SIGSTOP'));
});

t.test('checkmemcached, the bin at its defaults but --interval 5s: a stopped active server is found by the heartbeat', async (t) => {
  const mems = [await startMemcached(), await startMemcached()];
  t.teardown(() => Promise.all(mems.map((m) => m.stop())));
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const args = ['--server', mems.map((m) => `127.0.0.1:${m.port}`).join(','), '--tag', 'mem', '--backend', 'file', '--file', file, '--interval', '5s', '--timeout', '300ms', '--lock-dir', dir];
  const child = spawn(process.execPath, [join(root, 'packages/cli/bin/checkmemcached.js'), ...args], { stdio: 'ignore' });
  const exited = new Promise((done) => child.once('exit', done));
  const store = createFileStore({ file });
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
    await store.close();
  });
  const active = async () => (JSON.parse((await store.get('haproxy/memcached/mem'))?.value ?? '{}') as { port?: number }).port;
  t.ok(await until(async () => (await active()) === mems[0]!.port, 20_000, 20), 'the first memcached is active');
  const t0 = Date.now();
  mems[0]!.kill('SIGSTOP');
  t.ok(await until(async () => (await active()) === mems[1]!.port, 4000, 10), 'the entry moved');
  const ms = Date.now() - t0;
  t.ok(ms < 2000, `moved after ${ms} ms (heartbeat 100 ms + timeout 300 ms; the next pass was up to 5 s away)`);
});

t.test('memcached: a server answering 300 ms late under a 500 ms deadline never flaps, and one later than it moves', async (t) => {
  const mems = [await startMemcached(), await startMemcached()];
  const slow = await startDelayProxy({ target: mems[0]!, delayMs: 300 });
  t.teardown(async () => {
    await slow.close();
    await Promise.all(mems.map((m) => m.stop()));
  });
  const l = loop(t, memcachedKind({ tag: 't', servers: [slow, mems[1]!].map(address) }), SLOW_BUDGET);
  await slowNeverFlaps(t, l, slow);
  slow.setDelay(700);
  t.ok(await until(() => l.wrote(mems[1]!.port), 5000, 20), 'moved once replies come later than the deadline');
});

t.test('redis: a stopped master misses its heartbeat (PING) and the replica promoted meanwhile is written', async (t) => {
  const set = await startRedisSet({ replicas: 1 });
  t.teardown(() => set.stop());
  const [primary, replica] = [set.primary, set.replicas[0]!];
  const l = loop(t, redisKind({ tag: 't', servers: [primary, replica].map(address), proxyport: 16379 }), STOP_BUDGET);
  await stopIsFoundByTheHeartbeat(t, l, primary, replica, async () => {
    primary.kill('SIGSTOP');
    t.equal(await replica.cli('REPLICAOF', 'NO', 'ONE'), 'OK', 'the replica is promoted');
  });
});

t.test('redis: a master answering 300 ms late under a 500 ms deadline never flaps', async (t) => {
  const redis = await startRedis();
  const slow = await startDelayProxy({ target: redis, delayMs: 300 });
  t.teardown(async () => {
    await slow.close();
    await redis.stop();
  });
  await slowNeverFlaps(t, loop(t, redisKind({ tag: 't', servers: [address(slow)], proxyport: 16379 }), SLOW_BUDGET), slow);
});

t.test('mysql: a stopped active replica misses its heartbeat (COM_PING) and the entry moves to the other', async (t) => {
  const set = await startReplicationSet({ replicas: 2 });
  t.teardown(() => set.stop());
  const [r1, r2] = [set.replicas[0]!, set.replicas[1]!];
  const replicas = [r1, r2].map((r) => `127.0.0.1:${r.port}`).join(',');
  const config = tagConfig('db.conf', { t: { host: '127.0.0.1', port: String(set.primary.port), user: MONITOR.user, password: MONITOR.password, replicas } }, 't');
  const l = loop(t, mysqlKind({ config, maxLag: 30, timeoutMs: STOP_BUDGET.timeoutMs, masterFallback: true }), STOP_BUDGET);
  await stopIsFoundByTheHeartbeat(t, l, r1, r2, () => r1.kill('SIGSTOP'));
});
