// The renderer's status file (what the last passes did, per resource) and `confd-haproxy status`.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { PassResult } from '@confd-haproxy/renderer';

export interface Stamp {
  at: string;
  ok: boolean;
  detail?: string;
}

export interface ResourceStatus {
  resource: string;
  dest: string;
  render?: Stamp & { outcome: string };
  check?: Stamp;
  reload?: Stamp;
  runtime?: Stamp;
  /** Entries the last render refused ("<key>: entry: … (last-good|left-out)"); the rest rendered. */
  badEntries?: string[];
}

/** One status file per confdir, so several renderers on a host do not mix. */
export function statusPath(stateDir: string, confdir: string): string {
  return join(stateDir, `status-${createHash('sha1').update(resolve(confdir)).digest('hex').slice(0, 10)}.json`);
}

export function readStatus(path: string): Record<string, ResourceStatus> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, ResourceStatus>;
  } catch {
    return {};
  }
}

/** Fold a pass into the status file (atomically); a stage a pass did not run keeps its last stamp. */
export function recordPass(path: string, pass: PassResult, now = new Date()): void {
  const status = readStatus(path);
  const at = now.toISOString();
  for (const r of pass.resources) {
    const s: ResourceStatus = status[r.resource] ?? { resource: r.resource, dest: r.dest };
    s.dest = r.dest;
    const code = (r.error as { code?: string } | undefined)?.code;
    const outcome = code === 'GUARD_REFUSED' ? 'refused' : r.error ? 'failed' : r.changed ? 'changed' : 'unchanged';
    s.render = { at, ok: !r.error, outcome, ...(r.error ? { detail: r.error.message.split('\n')[0] } : {}) };
    if (r.checked || code === 'RESOURCE_CHECK_FAILED') s.check = { at, ok: r.checked, ...(r.checked ? {} : { detail: r.error?.message.split('\n')[0] }) };
    if (r.reloaded || code === 'RESOURCE_RELOAD_FAILED') s.reload = { at, ok: r.reloaded, ...(r.reloaded ? {} : { detail: r.error?.message.split('\n')[0] }) };
    if (r.runtime?.length) s.runtime = { at, ok: true, detail: r.runtime.join('; ') };
    s.badEntries = pass.badEntries.filter((b) => b.resource === r.resource).map((b) => `${b.message} (${b.fallback})`);
    status[r.resource] = s;
  }
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(status, null, 2)}\n`);
  renameSync(tmp, path);
}

const stamp = (s: (Stamp & { outcome?: string }) | undefined) => (s ? `${s.ok ? (s.outcome ?? 'ok') : s.outcome ?? 'FAILED'} ${s.at}` : '-');

/** A table for people: one row per resource. */
export function statusTable(rows: (ResourceStatus & { inSync: boolean | undefined; error?: string })[]): string {
  const head = ['resource', 'dest', 'last render', 'last check', 'last reload', 'dest vs store'];
  const body = rows.map((r) => [r.resource, r.dest, stamp(r.render), stamp(r.check), stamp(r.reload), r.error ? `error: ${r.error}` : r.inSync ? 'in sync' : 'DIFFERS']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const bad = rows.flatMap((r) => (r.badEntries ?? []).map((b) => `  ${r.resource}: ${b}`));
  return [line(head), ...body.map(line), ...(bad.length ? ['bad entries (the rest of each file renders from the store):', ...bad] : [])].join('\n') + '\n';
}
