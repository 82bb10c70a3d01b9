import t from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { DEFAULT_HEARTBEAT_BUDGET, DEFAULT_HEARTBEAT_MS, HeartbeatLoop, heartbeatPeriod, TagChecker, type Target } from '@confd-haproxy/checker';
import { looping, pingKind, probePing, quiet, sleep, startPingService, within } from './helpers.js';

/** pingKind with a heartbeat (one ping line) that counts who it asked. */
function beatingKind(targets: Target[]) {
  const asked: number[] = [];
  const kind = { ...pingKind({ targets }), heartbeat: (tg: Target, signal: AbortSignal) => (asked.push(tg.port), probePing(tg, signal)) };
  return { kind, asked };
}

t.test('a hung active server fails its heartbeat and the entry moves at once; only the active server is asked', async (t) => {
  const a = await startPingService('ok');
  const b = await startPingService('ok');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  t.teardown(() => store.close());
  const { kind, asked } = beatingKind([a, b]);
  const c = new TagChecker({ tag: 'p1', kind, store, logger: quiet, checker: 'test:1', timeoutMs: 200, heartbeatMs: 50, retryUp: 1, retryDown: 1, lockTtlMs: 5000, noLock: true });
  // A one-minute interval: after the first pass only a heartbeat can move the entry.
  const reports = looping(t, c, 60_000);
  t.ok((await within(5000, () => asked.length >= 3)) >= 0, 'heartbeats run between passes');
  t.same([...new Set(asked)], [a.port], 'only the active server is asked');
  a.mode = 'hang';
  const ms = await within(3000, () => reports.some((r) => r.wrote && r.entry?.port === b.port));
  t.ok(ms >= 0 && ms < 2000, `moved after ${ms} ms (heartbeat 50 ms + timeout 200 ms)`);
  const moved = reports.find((r) => r.wrote)!;
  t.equal(reports.at(-1)?.trigger, 'heartbeat');
  t.match(reports.at(-1)?.results, [{ target: { port: a.port }, result: { ok: false, reason: 'no answer within 200 ms' } }, { target: { port: b.port }, result: { ok: true } }], 'the hung one failed by its heartbeat, the other was probed afresh');
  t.equal(moved.trigger, 'interval', 'the first entry came from the first pass');
  asked.length = 0;
  t.ok((await within(3000, () => asked.length >= 2)) >= 0, 'heartbeats go on');
  t.same([...new Set(asked)], [b.port], 'to the new active server');
});

t.test('a checker that does not hold the tag, or runs with heartbeatMs 0, sends no heartbeat', async (t) => {
  const a = await startPingService('ok');
  t.teardown(() => a.close());
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  t.teardown(() => store.close());
  const holder = beatingKind([a]);
  const standby = beatingKind([a]);
  const off = beatingKind([a]);
  const make = (kind: ReturnType<typeof beatingKind>['kind'], name: string, heartbeatMs: number, tag = 'p1') =>
    new TagChecker({ tag, kind, store, logger: quiet, checker: name, timeoutMs: 200, heartbeatMs, retryUp: 1, retryDown: 1, lockTtlMs: 5000 });
  const first = looping(t, make(holder.kind, 'test:1', 20), 60_000);
  t.ok((await within(5000, () => first.length === 1 && holder.asked.length >= 3)) >= 0, 'the holder beats');
  const others = [make(standby.kind, 'test:2', 20), make(off.kind, 'test:3', 0, 'p2')];
  const passes = others.map((c) => looping(t, c, 60_000));
  t.ok((await within(5000, () => passes.every((p) => p.length === 1))) >= 0, 'the others passed once');
  const before = holder.asked.length;
  t.ok((await within(5000, () => holder.asked.length >= before + 5)) >= 0, 'the holder beat five times more meanwhile');
  t.equal(standby.asked.length, 0, 'the standby sent none');
  t.equal(off.asked.length, 0, 'heartbeatMs 0 sent none (it holds its own tag p2)');
  t.ok(others[1]!.holder, 'p2 is held');
  t.notOk(others[0]!.holder, 'p1 is not held by the standby');
});

t.test('the loop runs one heartbeat at a time, fails one at its deadline, and stop() ends it', async (t) => {
  let running = 0;
  let most = 0;
  let beats = 0;
  let answerMs = 30;
  const failed: { target: string; reason?: string; ms: number }[] = [];
  const loop = new HeartbeatLoop<string>({
    periodMs: 10,
    timeoutMs: 100,
    send: (signal) => {
      beats++;
      most = Math.max(most, ++running);
      const answer = new Promise<{ ok: boolean }>((done) => {
        const timer = setTimeout(() => done({ ok: true }), answerMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), done({ ok: false })), { once: true });
      }).finally(() => running--);
      return { target: 'a', answer };
    },
    failed: async (target, outcome) => {
      failed.push({ target, ...outcome });
    },
    exclusive: (fn) => fn(),
  });
  loop.start();
  t.ok((await within(3000, () => beats >= 5)) >= 0, 'it beats');
  t.same(failed, [], 'answers within the deadline fail nothing');
  answerMs = 1000;
  t.ok((await within(3000, () => failed.length >= 1)) >= 0, 'a late answer fails');
  t.match(failed[0], { target: 'a', reason: 'no answer within 100 ms' });
  // Measured on the wall clock, which may read a millisecond or two short of the 100 ms timer.
  t.ok(failed[0]!.ms >= 98 && failed[0]!.ms < 1000, `at the deadline (${failed[0]!.ms} ms)`);
  loop.stop();
  await sleep(50);
  const after = beats;
  await sleep(100);
  t.equal(beats, after, 'no heartbeat after stop()');
  t.equal(most, 1, 'never two at once');
});

t.test('many tags in one process beat less often, so the process stays within its budget', async (t) => {
  t.equal(heartbeatPeriod(DEFAULT_HEARTBEAT_MS, 1, DEFAULT_HEARTBEAT_BUDGET), 100, 'one tag beats at the period asked for');
  t.equal(heartbeatPeriod(100, 50, 500), 100, '50 tags at 100 ms are 500 a second: within the budget');
  t.equal(heartbeatPeriod(100, 250, 500), 500, '250 tags: every 500 ms each');
  t.equal(heartbeatPeriod(100, 2500, 500), 5000, '2,500 tags: every 5 s each');
  t.equal(heartbeatPeriod(100, 2500, 0), 100, 'budget 0: no limit');
  t.equal(heartbeatPeriod(0, 3, 500), 0, 'period 0: no heartbeat');
});

t.test('a failed heartbeat hands the next one a fresh signal; answered ones share one', async (t) => {
  const signals: AbortSignal[] = [];
  let answer = { ok: true };
  const loop = new HeartbeatLoop<string>({
    periodMs: 10,
    timeoutMs: 100,
    send: (signal) => (signals.push(signal), { target: 'a', answer: Promise.resolve(answer) }),
    failed: async () => {},
    exclusive: (fn) => fn(),
  });
  loop.start();
  t.teardown(() => loop.stop());
  t.ok((await within(3000, () => signals.length >= 3)) >= 0, 'it beats');
  t.equal(new Set(signals).size, 1, 'answered heartbeats reuse one signal');
  answer = { ok: false };
  const failedAt = signals.length;
  t.ok((await within(3000, () => signals.length >= failedAt + 2)) >= 0, 'it beats on after failures');
  t.ok(signals[failedAt - 1]!.aborted || signals[failedAt]!.aborted, 'the failed one was let go of');
  t.not(signals.at(-1), signals[0], 'later heartbeats got a fresh signal');
  answer = { ok: true };
  const answeredAt = signals.length;
  t.ok((await within(3000, () => signals.length >= answeredAt + 3)) >= 0, 'answered again');
  t.notOk(signals.at(-1)!.aborted, 'on a signal that is not aborted');
  t.equal(signals.at(-1), signals.at(-2), 'shared again while they answer');
});
