import t from 'tap';
import { outageLog, sharedOutageLog } from '@confd-haproxy/kv';

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

t.test('a store failing for four watches at once is one outage: one warning, one recovery', async (t) => {
  const { lines, log } = collector();
  let now = 0;
  const outage = sharedOutageLog(log, 'store file kv.json', { everyMs: 60_000, now: () => now });
  const watches = ['/haproxy/memcached', '/haproxy/mysql', '/haproxy/galera', '/haproxy/redis'].map((p) => outage.source(`watch ${p}`));
  for (; now < 30_000; now += 1000) for (const w of watches) w.failed(new Error('kv.json: bad JSON'));
  t.same(lines.filter((l) => l.startsWith('warn')).length, 1, 'one warning for the four');
  t.match(lines[0], /^warn store file kv\.json: watch \/haproxy\/memcached: kv\.json: bad JSON \(outage started/);
  for (const w of watches.slice(0, 3)) w.ok();
  t.equal(lines.filter((l) => l.startsWith('info')).length, 0, 'not over while one watch still fails');
  t.ok(watches[3]!.failing);
  watches[3]!.ok();
  t.match(lines.filter((l) => l.startsWith('info')), [/^info store file kv\.json: recovered after 120 failure\(s\) in 30 s$/], 'one recovery when none fails');
});

t.test('a watch that stops while it fails does not keep the outage open', async (t) => {
  const { lines, log } = collector();
  const outage = sharedOutageLog(log, 'store', { now: () => 0 });
  outage.source('watch /a').failed(new Error('refused'));
  outage.source('watch /b').ok();
  outage.retain(['watch /b']);
  t.match(lines.at(-1), /^info store: recovered after 1 failure/);
});
