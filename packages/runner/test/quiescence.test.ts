import t from 'tap';
import { createQuiescence } from '@confd-haproxy/runner';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a burst of 100 pokes within a second fires once', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 200, maxMs: 2000 }, () => {
    fired++;
  });
  t.teardown(() => q.stop());
  for (let i = 0; i < 100; i++) {
    q.poke();
    await sleep(10);
  }
  t.equal(fired, 0, 'nothing fires while the burst goes on');
  await q.idle();
  t.equal(fired, 1);
});

t.test('max bounds the wait of a stream that is never quiet', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 300, maxMs: 600 }, () => {
    fired++;
  });
  t.teardown(() => q.stop());
  const until = Date.now() + 2000;
  while (Date.now() < until) {
    q.poke();
    await sleep(50);
  }
  q.stop();
  t.ok(fired >= 1, `fired ${fired} times during 2 s of pokes 50 ms apart, although min 300 ms of quiet never came`);
});

t.test('pokes while a run is going queue exactly one more run', async (t) => {
  let fired = 0;
  let release = () => {};
  const firstRunHeld = new Promise<void>((r) => (release = r));
  // The first run lasts until every poke is in, however slow the machine.
  const q = createQuiescence({ minMs: 10, maxMs: 100 }, async () => {
    fired++;
    if (fired === 1) await firstRunHeld;
  });
  t.teardown(() => {
    release();
    return q.stop();
  });
  q.poke();
  const deadline = Date.now() + 10_000;
  while (fired === 0 && Date.now() < deadline) await sleep(5);
  t.equal(fired, 1, 'the first run is going');
  for (let i = 0; i < 10; i++) {
    q.poke();
    await sleep(5);
  }
  release();
  await q.idle();
  t.equal(fired, 2);
  await sleep(100);
  t.equal(fired, 2, 'and nothing after');
});

t.test('flush fires a pending burst at once and waits for it', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 10_000, maxMs: 20_000 }, async () => {
    await sleep(50);
    fired++;
  });
  t.teardown(() => q.stop());
  await q.flush();
  t.equal(fired, 0, 'nothing pending, nothing fired');
  q.poke();
  q.poke();
  const started = Date.now();
  await q.flush();
  t.equal(fired, 1);
  t.ok(Date.now() - started < 5000, 'without waiting for min');
});

t.test('a failing fire does not stop later runs', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 10, maxMs: 100 }, () => {
    fired++;
    throw new Error('render failed');
  });
  t.teardown(() => q.stop());
  q.poke();
  await q.flush();
  q.poke();
  await q.flush();
  t.equal(fired, 2);
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
