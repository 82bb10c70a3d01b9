// pxcScheduler's rules for HAProxy: which Galera node may serve, which one writes, who reads.
// Pure functions over what one pass saw, so every rule is testable on its own.
import { sameTarget, targetId, type Target } from '@confd-haproxy/checker';
import type { EntryServer } from '@confd-haproxy/schema';
import type { GaleraClusterConfig, GaleraNodeConfig } from './config.js';

/** What a node reports about itself (wsrep status and a few variables). */
export interface NodeStatus {
  /** wsrep_local_state: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced. */
  state: number;
  comment: string;
  /** wsrep_cluster_status: Primary, non-Primary, Disconnected. */
  clusterStatus: string;
  ready: boolean;
  connected: boolean;
  /** wsrep_reject_queries: NONE, ALL, ALL_KILL. */
  rejectQueries: string;
  readOnly: boolean;
  /** gmcast.segment from wsrep_provider_options. */
  segment: number;
  clusterSize: number;
}

/** ok: serves. donor: Donor/Desynced, drained. offline: up but must not serve. down: no answer. */
export type NodeHealth = 'ok' | 'donor' | 'offline' | 'down';

/** The rules of seed 003: Synced, Primary, ready, connected, accepting queries; Donor is drained. */
export function healthOf(s: NodeStatus): { health: NodeHealth; reason?: string } {
  if (s.clusterStatus !== 'Primary') return { health: 'offline', reason: `cluster status ${s.clusterStatus || 'unknown'} (not Primary)` };
  if (!s.ready) return { health: 'offline', reason: 'wsrep_ready is OFF' };
  if (!s.connected) return { health: 'offline', reason: 'wsrep_connected is OFF' };
  if (s.rejectQueries.toUpperCase() !== 'NONE') return { health: 'offline', reason: `wsrep_reject_queries is ${s.rejectQueries}` };
  if (s.state === 2) return { health: 'donor', reason: `wsrep_local_state 2 (${s.comment || 'Donor/Desynced'})` };
  if (s.state !== 4) return { health: 'offline', reason: `wsrep_local_state ${s.state} (${s.comment || 'not Synced'})` };
  return { health: 'ok' };
}

/** One node as this pass saw it. */
export interface NodeView extends GaleraNodeConfig {
  health: NodeHealth;
  reason?: string;
  /** Passed retry-up / retry-down: its last checks were good enough to serve. */
  eligible: boolean;
  /** Put in maintenance by an operator (a key under haproxy/.maint/galera/<cluster>/). */
  maint: boolean;
  readOnly: boolean;
  /** Configured, else reported, else 0. */
  segment: number;
}

export interface Roles {
  writers: NodeView[];
  readers: EntryServer[];
  drained: NodeView[];
  maintenance: NodeView[];
  down: NodeView[];
  /** Why there is no writer (then the entry is kept as it is). */
  problem?: string;
  /** A Donor/Desynced node serves because it is the last one of the main segment. */
  lastInSegment?: NodeView;
}

/**
 * Writers and readers for this pass. `current` are the writers of the stored entry: with failBack
 * off they stay while they are candidates, so a recovered preferred writer does not take over.
 */
export function assignRoles(cfg: GaleraClusterConfig, views: NodeView[], current: Target[]): Roles {
  const main = cfg.mainSegment;
  // Eligibility already counts retryUp/retryDown: a node keeps serving through retryDown failed checks.
  const serving = views.filter((v) => v.eligible && !v.maint);
  let lastInSegment: NodeView | undefined;
  if (!serving.some((v) => v.segment === main)) {
    // The last node of the main segment keeps serving even as a Donor: the cluster stays usable.
    lastInSegment = views.find((v) => v.segment === main && !v.maint && v.health === 'donor') ?? undefined;
    if (lastInSegment) serving.push(lastInSegment);
  }
  const isServing = (v: NodeView) => serving.includes(v);

  const byWeight = (a: NodeView, b: NodeView) =>
    (cfg.activeFailover === 3 ? Number(b.segment === main) - Number(a.segment === main) : 0) || b.writerWeight - a.writerWeight || views.indexOf(a) - views.indexOf(b);
  const candidates = serving
    .filter((v) => !v.readOnly)
    .filter((v) => cfg.activeFailover === 3 || v.segment === main)
    .filter((v) => cfg.activeFailover >= 2 || v.writerWeight > 0)
    .sort(byWeight);
  const n = cfg.singlePrimary ? 1 : cfg.maxNumWriters;
  let writers: NodeView[];
  const currentViews = current.flatMap((c) => views.filter((v) => sameTarget(v, c)));
  if (cfg.activeFailover === 0 && currentViews.length > 0) {
    writers = currentViews.slice(0, n); // no fail-over: the writer stays whatever its state
  } else if (cfg.failBack) {
    writers = candidates.slice(0, n);
  } else {
    const kept = currentViews.filter((v) => candidates.includes(v));
    writers = [...kept, ...candidates.filter((v) => !kept.includes(v))].slice(0, n);
  }

  const drained = views.filter((v) => v.health === 'donor' && !isServing(v) && !v.maint);
  const maintenance = views.filter((v) => v.maint);
  const down = views.filter((v) => !isServing(v) && !v.maint && !drained.includes(v));
  const reader = (v: NodeView, role: EntryServer['role']): EntryServer => ({ host: v.host, port: v.port, weight: v.readerWeight, role });
  const readers: EntryServer[] = [];
  for (const v of views) {
    const isWriter = writers.includes(v);
    if (isWriter && !cfg.writerIsAlsoReader) continue;
    if (isServing(v)) readers.push(reader(v, v.segment === main ? 'active' : 'backup'));
    else if (drained.includes(v)) readers.push(reader(v, 'drain'));
    else readers.push(reader(v, 'maint'));
  }
  if (!readers.some((r) => r.role === 'active' || r.role === 'backup')) {
    // The writer reads too when it is the last one that can, whatever writerIsAlsoReader says.
    for (const w of writers) if (!readers.some((r) => sameTarget(r, w))) readers.unshift(reader(w, 'active'));
  }
  const roles: Roles = { writers, readers, drained, maintenance, down, ...(lastInSegment ? { lastInSegment } : {}) };
  if (writers.length === 0) {
    const why = views.map((v) => `${targetId(v)} ${v.maint ? 'in maintenance' : v.health !== 'ok' ? v.reason ?? v.health : !v.eligible ? 'not up long enough (retryUp)' : v.readOnly ? 'read_only' : v.segment !== main ? `segment ${v.segment}` : v.writerWeight === 0 ? 'writerWeight 0' : 'ok'}`);
    roles.problem = `no writer candidate (activeFailover ${cfg.activeFailover}, main segment ${main}): ${why.join('; ')}`;
  }
  return roles;
}
