// The metrics and health verdicts of each bin, fed from the libraries' result callbacks.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PassReport } from '@confd-haproxy/checker';
import type { BundleEvent } from '@confd-haproxy/fleet';
import type { PassResult } from '@confd-haproxy/renderer';
import type { Verdict } from './observe.js';

export function rendererMetrics(registry: Registry, opts: { staleAfterMs: number }) {
  const passes = new Counter({ name: 'confd_haproxy_passes_total', help: 'Render passes by result', labelNames: ['result'], registers: [registry] });
  const renders = new Counter({ name: 'confd_haproxy_renders_total', help: 'Resource renders by outcome (changed, unchanged, failed, refused)', labelNames: ['resource', 'outcome'], registers: [registry] });
  const checks = new Counter({ name: 'confd_haproxy_checks_total', help: 'check_cmd runs by result', labelNames: ['resource', 'result'], registers: [registry] });
  const checkSeconds = new Histogram({ name: 'confd_haproxy_check_duration_seconds', help: 'check_cmd duration', labelNames: ['resource'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry] });
  const reloads = new Counter({ name: 'confd_haproxy_reloads_total', help: 'reload_cmd runs by result', labelNames: ['result'], registers: [registry] });
  const reloadSeconds = new Histogram({ name: 'confd_haproxy_reload_duration_seconds', help: 'reload_cmd duration', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry] });
  const runtime = new Counter({ name: 'confd_haproxy_runtime_updates_total', help: 'Changes applied through the HAProxy runtime API instead of a reload', labelNames: ['resource'], registers: [registry] });
  const guards = new Counter({ name: 'confd_haproxy_guard_refusals_total', help: 'Renders refused by a data guard', labelNames: ['resource'], registers: [registry] });
  const lastSuccess = new Gauge({ name: 'confd_haproxy_last_success_timestamp_seconds', help: 'When a pass last succeeded', registers: [registry] });
  const watchErrors = new Counter({ name: 'confd_haproxy_watch_errors_total', help: 'Failed store watches', labelNames: ['prefix'], registers: [registry] });
  const badEntries = new Counter({ name: 'confd_haproxy_bad_entries_total', help: 'Entries refused by `entry` (rendered from their last good value or left out), once per pass', labelNames: ['resource', 'key', 'fallback'], registers: [registry] });
  const badNow = new Gauge({ name: 'confd_haproxy_bad_entries', help: 'Entries the last pass refused', registers: [registry] });
  /** Per watched prefix: when the store last answered it (the oldest of them is the data's age). */
  const freshAt = new Map<string, number>();
  const freshAge = () => (freshAt.size ? (Date.now() - Math.min(...freshAt.values())) / 1000 : undefined);
  new Gauge({
    name: 'confd_haproxy_seconds_since_fresh_read',
    help: 'Seconds since the store last answered the least recently answered watched prefix',
    registers: [registry],
    collect() {
      const age = freshAge();
      if (age !== undefined) this.set(age);
    },
  });
  const bundleVersion = new Gauge({ name: 'confd_haproxy_fleet_bundle_version', help: 'The bundle version this instance runs (--config-from-store)', registers: [registry] });
  const bundlesRefused = new Counter({ name: 'confd_haproxy_fleet_bundles_refused_total', help: 'Pushed bundles this instance refused, by kind: untrusted, foreign, stale, not_allowed or failed', labelNames: ['reason'], registers: [registry] });
  let lastAlive = Date.now();
  let lastWatchError: string | undefined;
  let readyAt: number | undefined;
  return {
    onPass(p: PassResult) {
      lastAlive = Date.now();
      passes.inc({ result: p.ok ? 'ok' : 'failed' });
      badNow.set(p.badEntries.length);
      for (const b of p.badEntries) badEntries.inc({ resource: b.resource, key: b.key, fallback: b.fallback });
      // A bad entry costs only itself: the pass still rendered every other one from fresh data.
      if (p.errors.length === p.badEntries.length) {
        lastSuccess.set(Date.now() / 1000);
        readyAt ??= Date.now();
      }
      for (const r of p.resources) {
        const refused = (r.error as { code?: string } | undefined)?.code === 'GUARD_REFUSED';
        if (refused) guards.inc({ resource: r.resource });
        renders.inc({ resource: r.resource, outcome: refused ? 'refused' : r.error ? 'failed' : r.changed ? 'changed' : 'unchanged' });
        const check = r.commands[0];
        if (check && (r.checked || (r.error as { code?: string } | undefined)?.code === 'RESOURCE_CHECK_FAILED')) checkSeconds.observe({ resource: r.resource }, check.durationMs / 1000);
        if (r.checked) checks.inc({ resource: r.resource, result: 'ok' });
        else if ((r.error as { code?: string } | undefined)?.code === 'RESOURCE_CHECK_FAILED') checks.inc({ resource: r.resource, result: 'failed' });
        if (r.runtime?.length) runtime.inc({ resource: r.resource });
      }
      for (const c of p.reloads) {
        reloads.inc({ result: c.ok ? 'ok' : 'failed' });
        reloadSeconds.observe(c.durationMs / 1000);
      }
    },
    onBundle(e: BundleEvent) {
      if (e.adopted) bundleVersion.set(e.version);
      else bundlesRefused.inc({ reason: (e.refusal ?? 'failed').replace(' ', '_') });
    },
    onWatch(e: { prefix: string; ok: boolean; error?: string }) {
      lastAlive = Date.now();
      lastWatchError = e.ok ? undefined : e.error;
      if (e.ok) freshAt.set(e.prefix, Date.now());
      else watchErrors.inc({ prefix: e.prefix });
    },
    health(): Verdict {
      const idle = Date.now() - lastAlive;
      if (idle > opts.staleAfterMs) return { ok: false, why: `no store answer or pass for ${Math.round(idle / 1000)} s${lastWatchError ? ` (last error: ${lastWatchError})` : ''}` };
      return { ok: true, why: lastWatchError ? `watching, retrying after: ${lastWatchError}` : 'watching' };
    },
    ready(): Verdict {
      if (!readyAt) return { ok: false, why: 'no successful render yet' };
      const age = freshAge();
      const since = age === undefined ? '' : `; last fresh read ${age.toFixed(1)} s ago`;
      if (lastWatchError) return { ok: false, why: `the store does not answer (${lastWatchError})${since}` };
      if (age !== undefined && age * 1000 > opts.staleAfterMs) return { ok: false, why: `no fresh read from the store${since}` };
      return { ok: true, why: `rendered from a fresh read at ${new Date(readyAt).toISOString()}${since}` };
    },
  };
}

export function checkerMetrics(registry: Registry, opts: { tags: readonly string[]; staleAfterMs: number }) {
  /** The tags health and readiness are about: every tag, or those this process holds while checkers share them. */
  let tags = opts.tags;
  const probes = new Counter({ name: 'confd_haproxy_checker_probes_total', help: 'Probes by target and result', labelNames: ['tag', 'server', 'result'], registers: [registry] });
  const probeSeconds = new Histogram({ name: 'confd_haproxy_checker_probe_duration_seconds', help: 'Probe duration', labelNames: ['tag'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2], registers: [registry] });
  const active = new Gauge({ name: 'confd_haproxy_checker_active_server', help: '1 for the server each tag points at', labelNames: ['tag', 'server'], registers: [registry] });
  const writes = new Counter({ name: 'confd_haproxy_checker_writes_total', help: 'Entries written', labelNames: ['tag'], registers: [registry] });
  const holder = new Gauge({ name: 'confd_haproxy_checker_lock_held', help: '1 while this process holds the tag lock', labelNames: ['tag'], registers: [registry] });
  const healthyServers = new Gauge({ name: 'confd_haproxy_checker_healthy_servers', help: 'Servers of each tag that may serve now (0: the tag has no healthy server)', labelNames: ['tag'], registers: [registry] });
  const last = new Map<string, number>();
  /** Tags whose last pass found no server that may serve. */
  const noHealthy = new Set<string>();
  const current = new Map<string, string>();
  return {
    onPass(r: PassReport) {
      last.set(r.tag, Date.now());
      for (const { target, result } of r.results) {
        probes.inc({ tag: r.tag, server: `${target.host}:${target.port}`, result: result.ok ? 'ok' : 'failed' });
        probeSeconds.observe({ tag: r.tag }, result.ms / 1000);
      }
      if (r.entry) {
        const server = `${r.entry.host}:${r.entry.port}`;
        const before = current.get(r.tag);
        if (before && before !== server) active.remove({ tag: r.tag, server: before });
        current.set(r.tag, server);
        active.set({ tag: r.tag, server }, 1);
      }
      if (r.wrote) writes.inc({ tag: r.tag });
      holder.set({ tag: r.tag }, r.holder ? 1 : 0);
      healthyServers.set({ tag: r.tag }, r.eligible.length);
      if (r.eligible.length) noHealthy.delete(r.tag);
      else noHealthy.add(r.tag);
    },
    /** Checkers share the tags: from now on only `held` count; a tag handed off is forgotten (it may come back later). */
    held(held: ReadonlySet<string>) {
      for (const t of tags) {
        if (held.has(t)) continue;
        last.delete(t);
        noHealthy.delete(t);
        // Its series go with it: the member that holds it now reports them (a stale 0 would alert).
        holder.remove({ tag: t });
        healthyServers.remove({ tag: t });
        const server = current.get(t);
        if (server) active.remove({ tag: t, server });
        current.delete(t);
      }
      tags = [...held];
    },
    health(): Verdict {
      const stale = tags.filter((t) => Date.now() - (last.get(t) ?? Date.now()) > opts.staleAfterMs);
      return stale.length ? { ok: false, why: `no pass for ${stale.join(', ')}` } : { ok: true, why: 'checking' };
    },
    ready(): Verdict {
      const missing = tags.filter((t) => !last.has(t));
      if (missing.length) return { ok: false, why: `no pass yet for ${missing.join(', ')}` };
      const unserved = tags.filter((t) => noHealthy.has(t));
      if (unserved.length) return { ok: false, why: `no healthy server for ${unserved.join(', ')}` };
      return { ok: true, why: 'every tag checked and served' };
    },
  };
}
