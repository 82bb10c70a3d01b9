// One duration grammar for flags (cli) and conf.d settings (resource).
import t from 'tap';
import { durationMs } from '@confd-haproxy/base';

t.test("Go's durations are read as confd reads them", async (t) => {
  t.equal(durationMs('500ms'), 500);
  t.equal(durationMs('1.5s'), 1500);
  t.equal(durationMs('1m30s'), 90_000);
  t.equal(durationMs('2h'), 7_200_000);
  t.equal(durationMs(' 30s '), 30_000, 'surrounding blanks are ignored');
});

t.test('a bare number is in the unit the caller names (seconds unless told)', async (t) => {
  t.equal(durationMs('30'), 30_000);
  t.equal(durationMs('250', 'ms'), 250);
  t.equal(durationMs(1.5), 1500, 'a TOML number is seconds');
});

t.test('what is not a Go duration is refused, including what parse-duration alone would take', async (t) => {
  for (const bad of ['', 'soon', '2 days', '1d', '-1s', '1s foo', 's', '1.s']) t.equal(durationMs(bad), undefined, JSON.stringify(bad));
  t.equal(durationMs(-1), undefined, 'a negative number');
  t.equal(durationMs(Number.NaN), undefined, 'NaN');
});
