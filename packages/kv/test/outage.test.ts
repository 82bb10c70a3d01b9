import t from 'tap';
import { outageLog } from '@confd-haproxy/kv';

function collector() {
  const lines: string[] = [];
  const at = (level: string) => (msg: string) => lines.push(`${level} ${msg}`);
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

t.test('an outage is one warning at its start, a count at most once per period, one line at its end', async (t) => {
  const { lines, log } = collector();
  let now = 0;
  const o = outageLog(log, 'watch haproxy/x', { everyMs: 60_000, now: () => now });
  o.ok();
  t.same(lines, [], 'nothing while all is well');
  // Five failures a second for three minutes.
  for (; now < 180_000; now += 200) o.failed(new Error('connection refused'));
  const warnings = lines.filter((l) => l.startsWith('warn'));
  t.equal(warnings.length, 3, 'the start, then one count a minute');
  t.match(warnings[0], /^warn watch haproxy\/x: connection refused \(outage started/);
  t.match(warnings[1], /still failing, 300 more failure\(s\) in the last 60 s, 301 since the outage started 60 s ago: connection refused/);
  t.ok(o.failing);
  o.ok();
  t.match(lines.at(-1), /^info watch haproxy\/x: recovered after 900 failure\(s\) in 180 s$/);
  t.notOk(o.failing);
  o.ok();
  t.equal(lines.filter((l) => l.startsWith('info')).length, 1, 'the end is told once');
  o.failed(new Error('again'));
  t.match(lines.at(-1), /^warn watch haproxy\/x: again \(outage started/, 'a new outage starts anew');
});
