#!/usr/bin/env node
// Writes deploy/grafana/confd-haproxy.json, the shipped Grafana dashboard, from the panel list
// below (test/deploy fails when the file is out of date or a panel names a metric no bin exports).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const ds = { type: 'prometheus', uid: '${datasource}' };
let id = 0;
const panel = (title, exprs, opts = {}) => ({
  id: ++id, type: opts.type ?? 'timeseries', title, datasource: ds,
  gridPos: { h: 8, w: opts.w ?? 12, x: opts.x ?? 0, y: opts.y ?? 0 },
  fieldConfig: { defaults: { unit: opts.unit ?? 'short' }, overrides: [] },
  options: opts.type === 'table' ? { showHeader: true } : { legend: { displayMode: 'list', placement: 'bottom' } },
  targets: exprs.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), datasource: ds, expr, legendFormat, ...(opts.type === 'table' ? { instant: true, format: 'table' } : {}) })),
  ...(opts.description ? { description: opts.description } : {}),
});
const row = (title, y) => ({ id: ++id, type: 'row', title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
const panels = [
  row('Checkers', 0),
  panel('Active server per tag', [['max by (tag, server) (confd_haproxy_checker_active_server) == 1', '{{tag}} → {{server}}']], { type: 'table', y: 1, description: 'Where each haproxy/<kind>/<tag> entry points now.' }),
  panel('Failovers (entry writes)', [['sum by (tag) (increase(confd_haproxy_checker_writes_total[$__rate_interval]))', '{{tag}}']], { x: 12, y: 1 }),
  panel('Probe latency p50 / p99', [
    ['histogram_quantile(0.5, sum by (tag, le) (rate(confd_haproxy_checker_probe_duration_seconds_bucket[$__rate_interval])))', '{{tag}} p50'],
    ['histogram_quantile(0.99, sum by (tag, le) (rate(confd_haproxy_checker_probe_duration_seconds_bucket[$__rate_interval])))', '{{tag}} p99'],
  ], { y: 9, unit: 's' }),
  panel('Failed probes per server', [['sum by (tag, server) (rate(confd_haproxy_checker_probes_total{result="failed"}[$__rate_interval]))', '{{tag}} {{server}}']], { x: 12, y: 9, unit: 'ops' }),
  panel('Tag lock held', [['max by (tag) (confd_haproxy_checker_lock_held)', '{{tag}}']], { y: 17, description: '0: no checker writes this tag.' }),
  row('Renderers', 25),
  panel('Renders by outcome', [['sum by (outcome) (increase(confd_haproxy_renders_total[$__rate_interval]))', '{{outcome}}']], { y: 26 }),
  panel('Refused by a data guard', [['sum by (instance, resource) (increase(confd_haproxy_guard_refusals_total[$__rate_interval]))', '{{instance}} {{resource}}']], { x: 12, y: 26 }),
  panel('Reloads and runtime-API updates', [
    ['sum by (result) (increase(confd_haproxy_reloads_total[$__rate_interval]))', 'reload {{result}}'],
    ['sum (increase(confd_haproxy_runtime_updates_total[$__rate_interval]))', 'runtime API'],
  ], { y: 34 }),
  panel('Reload and check duration p99', [
    ['histogram_quantile(0.99, sum by (le) (rate(confd_haproxy_reload_duration_seconds_bucket[$__rate_interval])))', 'reload p99'],
    ['histogram_quantile(0.99, sum by (le) (rate(confd_haproxy_check_duration_seconds_bucket[$__rate_interval])))', 'check p99'],
  ], { x: 12, y: 34, unit: 's' }),
  panel('Store watch errors', [['sum by (instance) (increase(confd_haproxy_watch_errors_total[$__rate_interval]))', '{{instance}}']], { y: 42 }),
  panel('Since the last successful pass', [['time() - confd_haproxy_last_success_timestamp_seconds', '{{instance}}']], { x: 12, y: 42, unit: 's' }),
  panel('Age of the store data', [['confd_haproxy_seconds_since_fresh_read', '{{instance}}']], { y: 50, unit: 's', description: 'Seconds since the store last answered the least recently answered watched prefix.' }),
  panel('Bad entries (rendered from their last good value)', [['confd_haproxy_bad_entries', '{{instance}}']], { x: 12, y: 50 }),
  row('Fleet', 58),
  panel('Bundle version per instance', [['confd_haproxy_fleet_bundle_version', '{{instance}}']], { y: 59, description: 'Converged when every instance runs the same version.' }),
  panel('Refused bundles', [['sum by (instance, reason) (increase(confd_haproxy_fleet_bundles_refused_total[$__rate_interval]))', '{{instance}} {{reason}}']], { x: 12, y: 59 }),
];
const dashboard = {
  title: 'confd-haproxy', uid: 'confd-haproxy', editable: true, schemaVersion: 39, version: 1,
  tags: ['haproxy', 'confd-haproxy'], time: { from: 'now-6h', to: 'now' }, refresh: '30s',
  templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }] },
  annotations: { list: [] },
  panels,
};
export const dashboardJson = () => `${JSON.stringify(dashboard, null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(join(dirname(fileURLToPath(import.meta.url)), '../deploy/grafana/confd-haproxy.json'), dashboardJson());
  console.log('wrote deploy/grafana/confd-haproxy.json');
}
