import t from 'tap';
import { backoffDelay } from '@confd-haproxy/kv';

t.test('the back-off ceiling doubles per attempt up to maxMs', async (t) => {
  const top = (attempt: number) => backoffDelay(attempt, { baseMs: 100, maxMs: 5000, random: () => 0.999999 });
  t.same([0, 1, 2, 3, 4, 5, 6, 50].map(top), [99, 199, 399, 799, 1599, 3199, 4999, 4999]);
});

t.test('full jitter: any delay from 0 up to the ceiling', async (t) => {
  t.equal(backoffDelay(3, { baseMs: 100, maxMs: 5000, random: () => 0 }), 0, 'can retry at once');
  const seen = Array.from({ length: 2000 }, () => backoffDelay(4, { baseMs: 100, maxMs: 5000 }));
  t.ok(seen.every((d) => d >= 0 && d < 1600), 'never above the ceiling');
  t.ok(new Set(seen.map((d) => Math.floor(d / 160))).size === 10, 'spread over the whole range, so failed clients do not retry together');
});

t.test('a nonsense attempt number still gives a bounded delay', async (t) => {
  for (const attempt of [-3, Number.NaN, Number.POSITIVE_INFINITY, 2.7]) {
    const d = backoffDelay(attempt, { baseMs: 100, maxMs: 1000 });
    t.ok(Number.isInteger(d) && d >= 0 && d < 1000, `attempt ${attempt}: ${d}`);
  }
});
