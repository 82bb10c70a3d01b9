import t from 'tap';
import { Counters, counted, downsText, type Counter } from '../dist/counters.js';

const a = { host: '10.0.0.1', port: 3306 };
const b = { host: '10.0.0.2', port: 3306 };
/** One probe after another, each ok (true) or failed (false), from a fresh counter. */
const after = (probes: boolean[], rule = { retryUp: 2, retryDown: 2 }): Counter | undefined =>
  probes.reduce<Counter | undefined>((c, ok) => counted(c, ok, ok ? undefined : 'connection refused', rule), undefined);

t.test('a target never seen serves on its first success, without waiting for retry-up', async (t) => {
  t.equal(after([true], { retryUp: 3, retryDown: 1 })?.eligible, true);
});

t.test('a target that fails from the start is not eligible, and says why', async (t) => {
  const c = after([false]);
  t.equal(c?.eligible, false);
  t.equal(c?.reason, 'connection refused');
  t.equal(c?.downs, 1);
});

t.test('an eligible target keeps serving through fewer failures than retry-down', async (t) => {
  t.equal(after([true, false])?.eligible, true, 'one failure of two allowed');
  t.equal(after([true, false, false])?.eligible, false, 'the second failure in a row drops it');
  t.equal(after([true, false, true, false])?.eligible, true, 'a success in between starts the count again');
});

t.test('a dropped target serves again only after retry-up successes in a row', async (t) => {
  t.equal(after([true, false, false, true])?.eligible, false, 'one success of two');
  t.equal(after([true, false, false, true, true])?.eligible, true, 'the second success brings it back');
  t.equal(after([true, false, false, true, false, true])?.eligible, false, 'a failure in between starts the count again');
});

t.test('a success keeps the reason of the last failure, for the logs', async (t) => {
  t.equal(after([false, true])?.reason, 'connection refused');
});

t.test('counting makes a new counter and leaves the previous one as it was', async (t) => {
  const before = after([true])!;
  const next = counted(before, false, 'timed out', { retryUp: 1, retryDown: 1 });
  t.equal(before.eligible, true);
  t.equal(before.downs, 0);
  t.equal(next.eligible, false);
});

t.test('the counters of a tag list its eligible targets in target order and each one’s last failure', async (t) => {
  const c = new Counters({ retryUp: 1, retryDown: 1 });
  t.equal(c.failures([a, b]), '10.0.0.1:3306 not probed yet; 10.0.0.2:3306 not probed yet');
  t.equal(c.failures([]), 'no targets');
  c.record(b, true);
  c.record(a, false, 'connection refused');
  t.same(c.eligible([a, b]), [b]);
  t.equal(c.failures([a]), '10.0.0.1:3306 connection refused');
  t.equal(c.get(a)?.downs, 1);
  t.equal(c.get({ host: '10.0.0.1', port: 3306 })?.downs, 1, 'a target is known by its host and port, not by its object');
});

t.test('failures in a row read "n of retry-down", then "n in a row" past it', async (t) => {
  t.equal(downsText(2, 2), '2 of 2');
  t.equal(downsText(21, 2), '21 in a row');
});
