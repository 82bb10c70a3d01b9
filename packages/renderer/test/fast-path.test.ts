// The fast-path rule of -watch as a policy over given times: no timers, no store.
import t from 'tap';
import { FastPathPolicy } from '@confd-haproxy/renderer';

/** A policy whose first runtime-only pass was queued at 1000, started, and ended at `endedAt`. */
function afterOnePass(minMs: number, endedAt: number, deferred: boolean): FastPathPolicy {
  const fast = new FastPathPolicy(minMs);
  if (!fast.take(1_000)) throw new Error('the first change must queue a pass');
  fast.started();
  fast.finished(endedAt, deferred);
  return fast;
}

t.test('a change within a burst queues one runtime-only pass; more changes while it is queued queue nothing more', async (t) => {
  const fast = new FastPathPolicy(200);
  t.same([fast.take(1_000), fast.take(1_001), fast.take(1_050)], [true, false, false], 'one queued, the next two wait for it');
  fast.started();
  t.equal(fast.take(1_060), true, 'once it started, the next change queues the next pass');
});

t.test('a pass that applied everything by the runtime API leaves the fast path open', async (t) => {
  t.equal(afterOnePass(200, 1_010, false).take(1_020), true, 'a change 10ms later is tried at once too');
});

t.test('after a pass that found reload work, the changes of the next minMs are left to the full pass', async (t) => {
  t.equal(afterOnePass(200, 1_010, true).take(1_011), false, 'just after');
  t.equal(afterOnePass(200, 1_010, true).take(1_209), false, '1ms before minMs is over');
  t.equal(afterOnePass(200, 1_010, true).take(1_210), true, 'minMs after it, the fast path is open again');
});

t.test('with minMs 0 a pass that deferred holds nothing back', async (t) => {
  t.equal(afterOnePass(0, 5, true).take(5), true);
});
