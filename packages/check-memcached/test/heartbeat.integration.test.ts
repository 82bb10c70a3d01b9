import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { runTagChecker, TagChecker, type CheckerKind, type PassReport, type Target } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { startDelayProxy, startMemcached, until } from '@confd-haproxy/testkit';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const KEY = 'haproxy/memcached/mem';

/** The kind's heartbeats, counted by outcome. */
function counted(kind: CheckerKind): { kind: CheckerKind; beats: { ok: number; failed: number } } {
  const beats = { ok: 0, failed: 0 };
  const heartbeat = kind.heartbeat!.bind(kind);
  return {
    beats,
    kind: {
      ...kind,
      heartbeat: async (target: Target, signal: AbortSignal) => {
        const r = await heartbeat(target, signal);
        beats[r.ok ? 'ok' : 'failed']++;
        return r;
      },
    },
  };
}

/** A checker looping at intervalMs in the background until the test ends; its reports and the stored entry. */
function loop(t: Test, servers: Target[], o: { intervalMs: number; timeoutMs: number; heartbeatMs: number }) {
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const { kind, beats } = counted(memcachedKind({ tag: 'mem', servers }));
  const checker = new TagChecker({ tag: 'mem', kind, store, logger: quiet, checker: 'test:1', timeoutMs: o.timeoutMs, heartbeatMs: o.heartbeatMs, retryUp: 1, retryDown: 1, lockTtlMs: 15_000 });
  const reports: PassReport[] = [];
  const ac = new AbortController();
  const running = runTagChecker(checker, { intervalMs: o.intervalMs, signal: ac.signal, onPass: (r) => reports.push(r) });
  t.teardown(async () => {
    ac.abort();
    await running;
    await store.close();
  });
  const activePort = async () => (JSON.parse((await store.get(KEY))?.value ?? '{}') as { port?: number }).port;
  return { reports, beats, activePort };
}

t.test('a stopped active memcached is replaced within heartbeat + timeout, long before the next pass', async (t) => {
  const mems = [await startMemcached(), await startMemcached()];
  t.teardown(() => Promise.all(mems.map((m) => m.stop())));
  // Interval 5 s, timeout 300 ms: only the heartbeat (every 100 ms) can find the stop within 2 s.
  const c = loop(t, mems.map((h) => ({ host: h.host, port: h.port })), { intervalMs: 5000, timeoutMs: 300, heartbeatMs: 100 });
  t.ok(await until(async () => (await c.activePort()) === mems[0]!.port, 10_000, 20), 'the first memcached is active');
  t.ok(await until(() => c.beats.ok >= 2, 3000, 20), 'heartbeats answered');
  const t0 = Date.now();
  mems[0]!.kill('SIGSTOP');
  t.ok(await until(async () => (await c.activePort()) === mems[1]!.port, 4000, 10), 'the entry moved to the second memcached');
  const ms = Date.now() - t0;
  t.ok(ms < 2000, `moved after ${ms} ms (heartbeat 100 ms + timeout 300 ms; the next pass was ~5 s away)`);
  // The report follows the write by a tick.
  t.ok(await until(() => c.reports.some((r) => r.wrote && r.entry?.port === mems[1]!.port), 1000, 10), 'the move was reported');
  const moved = c.reports.find((r) => r.wrote && r.entry?.port === mems[1]!.port);
  t.equal(moved?.trigger, 'heartbeat', 'the failed heartbeat wrote it');
  t.match(moved?.results.find((x) => x.target.port === mems[0]!.port)?.result, { ok: false, reason: /no answer within 300 ms/ });
});

t.test('a memcached answering 300 ms late under a 500 ms deadline never flaps', async (t) => {
  const mems = [await startMemcached(), await startMemcached()];
  const slow = await startDelayProxy({ target: mems[0]!, delayMs: 300 });
  t.teardown(async () => {
    await slow.close();
    await Promise.all(mems.map((m) => m.stop()));
  });
  const c = loop(t, [slow, mems[1]!].map((h) => ({ host: h.host, port: h.port })), { intervalMs: 1000, timeoutMs: 500, heartbeatMs: 100 });
  t.ok(await until(async () => (await c.activePort()) === slow.port, 10_000, 20), 'the slow server is active');
  // Three interval passes and the heartbeats between them, all through the 300 ms delay.
  t.ok(await until(() => c.reports.filter((r) => r.trigger === 'interval').length >= 4, 15_000, 50), 'four passes ran');
  t.ok(c.beats.ok >= 5, `${c.beats.ok} heartbeats answered through the delay`);
  t.equal(c.beats.failed, 0, 'no heartbeat failed');
  t.equal(await c.activePort(), slow.port, 'the entry stayed on the slow server');
  t.equal(c.reports.filter((r) => r.wrote).length, 1, 'only the first entry was written');

  // The same server a little slower than the deadline: the heartbeat finds it and the entry moves.
  slow.setDelay(700);
  t.ok(await until(async () => (await c.activePort()) === mems[1]!.port, 5000, 20), 'moved once replies are later than the deadline');
});
