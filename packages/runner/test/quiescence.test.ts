import t, { type Test } from 'tap';
import { createQuiescence, type QuiescenceOptions } from '@confd-haproxy/runner';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A quiescence that counts its runs in `runs.fired` and then does `run`; stopped when the test ends. */
function counting(t: Test, opts: QuiescenceOptions, run: () => Promise<void> | void = () => {}) {
  const runs = { fired: 0 };
  const q = createQuiescence(opts, () => {
    runs.fired++;
    return run();
  });
  t.teardown(() => q.stop());
  return { q, runs };
}

t.test('a burst of 100 pokes within a second fires once', async (t) => {
  // max far above the burst's second: on a loaded machine 100 sleeps of 10 ms took 2.6 s.
  const { q, runs } = counting(t, { minMs: 200, maxMs: 10_000 });
  // A machine loaded enough to stall the burst for a whole quiet period splits it: each such
  // pause may fire once (it is a quiet period), nothing else may.
  let pauses = 0;
  let last = Date.now();
  for (let i = 0; i < 100; i++) {
    q.poke();
    await sleep(10);
    if (Date.now() - last >= 200) pauses++;
    last = Date.now();
  }
  t.ok(runs.fired <= pauses, `nothing fires while the burst goes on (${runs.fired} runs, ${pauses} stalls of the burst)`);
  await q.idle();
  t.ok(runs.fired >= 1 && runs.fired <= 1 + pauses, `one run for the burst (${runs.fired}, plus one per stall: ${pauses})`);
});

t.test('max bounds the wait of a stream that is never quiet', async (t) => {
  const { q, runs } = counting(t, { minMs: 300, maxMs: 600 });
  const until = Date.now() + 2000;
  while (Date.now() < until) {
    q.poke();
    await sleep(50);
  }
  q.stop();
  t.ok(runs.fired >= 1, `fired ${runs.fired} times during 2 s of pokes 50 ms apart, although min 300 ms of quiet never came`);
});

t.test('pokes while a run is going queue exactly one more run', async (t) => {
  let release = () => {};
  const firstRunHeld = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  // The first run lasts until every poke is in, however slow the machine.
  const { q, runs } = counting(t, { minMs: 10, maxMs: 100 }, () => (runs.fired === 1 ? firstRunHeld : undefined));
  q.poke();
  const deadline = Date.now() + 10_000;
  while (runs.fired === 0 && Date.now() < deadline) await sleep(5);
  t.equal(runs.fired, 1, 'the first run is going');
  for (let i = 0; i < 10; i++) {
    q.poke();
    await sleep(5);
  }
  release();
  await q.idle();
  t.equal(runs.fired, 2);
  await sleep(100);
  t.equal(runs.fired, 2, 'and nothing after');
});

t.test('flush fires a pending burst at once and waits for it', async (t) => {
  let finished = 0;
  const { q } = counting(t, { minMs: 10_000, maxMs: 20_000 }, async () => {
    await sleep(50);
    finished++;
  });
  await q.flush();
  t.equal(finished, 0, 'nothing pending, nothing fired');
  q.poke();
  q.poke();
  const started = Date.now();
  await q.flush();
  t.equal(finished, 1);
  t.ok(Date.now() - started < 5000, 'without waiting for min');
});

t.test('a failing fire does not stop later runs', async (t) => {
  const { q, runs } = counting(t, { minMs: 10, maxMs: 100 }, () => {
    throw new Error('render failed');
  });
  q.poke();
  await q.flush();
  q.poke();
  await q.flush();
  t.equal(runs.fired, 2);
});

t.test('stop and an aborted signal cancel a pending run', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 50, maxMs: 100 }, () => {
    fired++;
  });
  q.poke();
  q.stop();
  q.poke();
  await sleep(200);
  t.equal(fired, 0);
  const ac = new AbortController();
  const q2 = createQuiescence({ minMs: 50, maxMs: 100, signal: ac.signal }, () => {
    fired++;
  });
  q2.poke();
  ac.abort();
  const q3 = createQuiescence({ minMs: 10, maxMs: 100, signal: AbortSignal.abort() }, () => {
    fired++;
  });
  q3.poke();
  await sleep(200);
  t.equal(fired, 0);
  await q2.idle();
  await q3.idle();
});

t.test('leading: a poke after a quiet period fires at once, the burst after it fires once more', async (t) => {
  const { q, runs } = counting(t, { minMs: 200, maxMs: 2000, leading: true });
  t.equal(q.poke(), true, 'the first poke fires at once');
  await sleep(5);
  t.equal(runs.fired, 1);
  for (let i = 0; i < 100; i++) {
    t.equal(q.poke(), false);
    await sleep(5);
  }
  await q.idle();
  t.equal(runs.fired, 2, 'a burst of 101 pokes costs two runs');
  await sleep(250);
  t.equal(q.poke(), true, 'after min of quiet the next poke leads again');
  await q.idle();
  t.equal(runs.fired, 3);
});

t.test('without leading, the first poke waits for its quiet period as before', async (t) => {
  let firedAt = 0;
  const { q, runs } = counting(t, { minMs: 100, maxMs: 1000 }, () => void (firedAt = Date.now()));
  const poked = Date.now();
  t.equal(q.poke(), false);
  t.equal(runs.fired, 0);
  await q.idle();
  t.equal(runs.fired, 1);
  // Timed from the run itself: a loaded machine can make it late, never early (a timer may round down 1 ms).
  t.ok(firedAt - poked >= 99, `ran ${firedAt - poked} ms after the poke, once its 100 ms quiet period was over`);
});
