// The shipped Grafana dashboard and Prometheus rules ask for metrics the bins really export:
// scraped from a running renderer and a running checker, not read from the source.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { freePort, killAndWait, startMemcached } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const RULES = join(root, 'deploy/prometheus/confd-haproxy.rules.yml');
const DASHBOARD = join(root, 'deploy/grafana/confd-haproxy.json');

/** Every metric family a /metrics page declares (# TYPE name kind), with its kind. */
async function scrape(port: number): Promise<Map<string, string>> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => (r.ok ? r.text() : ''), () => '');
    if (text.includes('# TYPE confd_haproxy_')) return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    await new Promise((r) => setTimeout(r, 100));
  }
  return new Map();
}

/** The families an expression names: a histogram's _bucket/_sum/_count belong to it. */
function familiesIn(expr: string, exported: Map<string, string>): string[] {
  return [...expr.matchAll(/\bconfd_haproxy_\w+/g)].map(([name]) => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return base !== name && exported.get(base) === 'histogram' ? base : name;
  });
}

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

t.test('every metric the dashboard and the alert rules use is exported by a bin', async (t) => {
  const mem = await startMemcached();
  t.teardown(() => mem.stop());
  const dir = t.testdir({ 'conf.d': { 'x.toml': '[template]\nsrc = "x.hbs"\ndest = "x.out"\nkeys = ["/haproxy/memcached"]\n' }, templates: { 'x.hbs': 'x\n' } });
  writeFileSync(join(dir, 'kv.json'), '{}');
  const [rport, cport] = [await freePort(), await freePort()];
  const env = { PATH: process.env.PATH ?? '' };
  const renderer = spawn(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), '--watch', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--listen', `127.0.0.1:${rport}`, '--state-dir', join(dir, 'state')], { stdio: 'ignore', env });
  const checker = spawn(process.execPath, [join(root, 'packages/cli/bin/checkmemcached.js'), '--server', `127.0.0.1:${mem.port}`, '--tag', 'obs', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--interval', '200ms', '--listen', `127.0.0.1:${cport}`], { stdio: 'ignore', env });
  t.teardown(() => Promise.all([killAndWait(renderer), killAndWait(checker)]));
  const exported = new Map([...(await scrape(rport)), ...(await scrape(cport))]);
  t.ok(exported.size > 10, `${exported.size} metric families exported`);

  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: { type: string }[] } };
  t.ok(dashboard.templating.list.some((v) => v.type === 'datasource'), 'the dashboard asks for its Prometheus datasource');
  const titles = dashboard.panels.map((p) => p.title);
  for (const want of [/active server/i, /failover/i, /probe latency/i, /refused/i, /reload/i, /bundle version/i]) t.ok(titles.some((x) => want.test(x)), `a panel for ${want.source}`);
  for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
    t.ok(p.targets?.length, `${p.title}: has queries`);
    for (const { expr } of p.targets ?? []) {
      const names = familiesIn(expr, exported);
      t.ok(names.length > 0, `${p.title}: queries a confd-haproxy metric`);
      for (const n of names) t.ok(exported.has(n), `${p.title}: ${n} is exported`);
    }
  }

  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const alerts = rules.groups.flatMap((g) => g.rules);
  for (const want of ['LockLost', 'RenderRefused', 'ReloadFailing', 'FleetDiverged', 'StoreUnreachable']) t.ok(alerts.some((a) => a.alert.endsWith(want)), `an alert for ${want}`);
  for (const a of alerts) for (const n of familiesIn(a.expr, exported)) t.ok(exported.has(n), `${a.alert}: ${n} is exported`);
  // Stopped before t.testdir's own teardown removes the directory they write into.
  await Promise.all([killAndWait(renderer), killAndWait(checker)]);
});

t.test('the dashboard is up to date with its generator', async (t) => {
  const gen = (await import(join(root, 'scripts/grafana-dashboard.mjs'))) as { dashboardJson(): string };
  t.equal(readFileSync(DASHBOARD, 'utf8'), gen.dashboardJson(), 'node scripts/grafana-dashboard.mjs rewrites it');
});

t.test('promtool accepts the alert rules', async (t) => {
  const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    t.comment('promtool is not installed (Debian: prometheus): the rules were not checked');
    return;
  }
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
