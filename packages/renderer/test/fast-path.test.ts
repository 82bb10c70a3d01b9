// The fast-path rule of -watch as a policy over given times: no timers, no store.
import t from 'tap';
import { FastPathPolicy } from '@confd-haproxy/renderer';

t.test('a change within a burst queues one runtime-only pass; more changes while it is queued queue nothing more', async (t) => {
  const fast = new FastPathPolicy(200);
  t.equal(fast.take(1_000), true, 'the first change queues a pass');
  t.equal(fast.take(1_001), false, 'one is queued already');
  t.equal(fast.take(1_050), false, 'still queued');
  fast.started();
  t.equal(fast.take(1_060), true, 'once it started, the next change queues the next pass');
});

t.test('a pass that applied everything by the runtime API leaves the fast path open', async (t) => {
  const fast = new FastPathPolicy(200);
  t.equal(fast.take(1_000), true);
  fast.started();
  fast.finished(1_010, false);
  t.equal(fast.take(1_020), true, 'a change 10ms later is tried at once too');
});

t.test('after a pass that found reload work, the changes of the next minMs are left to the full pass', async (t) => {
  const fast = new FastPathPolicy(200);
  t.equal(fast.take(1_000), true);
  fast.started();
  fast.finished(1_010, true);
  t.equal(fast.take(1_011), false, 'just after');
  t.equal(fast.take(1_209), false, '1ms before minMs is over');
  t.equal(fast.take(1_210), true, 'minMs after it, the fast path is open again');
});

t.test('with minMs 0 nothing is held back but the one queued pass', async (t) => {
  const fast = new FastPathPolicy(0);
  t.equal(fast.take(5), true);
  fast.started();
  fast.finished(5, true);
  t.equal(fast.take(5), true, 'a pass that deferred holds nothing back');
});
