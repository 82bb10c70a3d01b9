// checkmysqlslave's decisions, pure functions of what a pass saw: whether a replica serves (from
// its SHOW SLAVE STATUS row), which candidates the master names, and the entry a pass writes.
// rules.test.ts tests them; checkmysqlslave.integration.test.ts runs them on real replicas.
import { sameTarget, targetId, type Choice, type Target } from '@confd-haproxy/checker';
import { DEFAULT_WEIGHT } from '@confd-haproxy/schema';

/** What a replica must replicate from, and how far behind it may be. */
export interface ReplicaRule {
  master: Target;
  /** Largest Seconds_Behind_Master still served (seconds). */
  maxLag: number;
}

/** A replica serves when both threads run, it replicates from the master and its lag is known and within maxLag. */
export function replicaHealth(row: Record<string, unknown> | undefined, { master, maxLag }: ReplicaRule): { ok: true } | { ok: false; reason: string } {
  if (!row) return { ok: false, reason: 'not a replica (SHOW SLAVE STATUS is empty)' };
  if (row.Slave_IO_Running !== 'Yes') return { ok: false, reason: `IO thread not running (${String(row.Slave_IO_Running)})` };
  if (row.Slave_SQL_Running !== 'Yes') return { ok: false, reason: `SQL thread not running (${String(row.Slave_SQL_Running)})` };
  if (String(row.Master_Host).toLowerCase() !== master.host.toLowerCase() || Number(row.Master_Port) !== master.port) {
    return { ok: false, reason: `replicates from ${String(row.Master_Host)}:${String(row.Master_Port)}, not ${targetId(master)}` };
  }
  const lag = row.Seconds_Behind_Master;
  if (lag === null || lag === undefined) return { ok: false, reason: 'lag unknown (Seconds_Behind_Master is NULL)' };
  if (Number(lag) > maxLag) return { ok: false, reason: `lag ${String(lag)} s above ${maxLag} s` };
  return { ok: true };
}

/** SHOW SLAVE HOSTS rows as targets: each replica's report_host and report_port. */
export const reportedReplicas = (rows: { Host: string; Port: number }[]): Target[] => rows.flatMap((h) => (h.Host && Number(h.Port) > 0 ? [{ host: h.Host, port: Number(h.Port) }] : []));

/** The original's last resort: each Binlog Dump thread's client host, with the master's own port. */
export const dumpThreadHosts = (rows: { Command: string; Host: string }[], masterPort: number): Target[] =>
  rows.flatMap((p) => (p.Command === 'Binlog Dump' || p.Command === 'Binlog Dump GTID' ? [{ host: p.Host.replace(/:\d+$/, ''), port: masterPort }] : []));

/** Found candidates once each, without the master itself. */
export const candidates = (found: Target[], master: Target): Target[] => found.filter((t, i) => found.findIndex((x) => sameTarget(x, t)) === i && !sameTarget(t, master));

export interface ReplicaChoiceInput {
  tag: string;
  proxyport: number;
  master: Target;
  /** With no healthy replica, point the entry at the master (the original's behaviour). */
  masterFallback: boolean;
  /** The replicas healthy enough to serve this pass, in order. */
  eligible: Target[];
  current: Target | undefined;
}

/**
 * The entry: the current replica while it is eligible (a healthy set never flaps), else the first
 * eligible one, every eligible replica as a server; with none, the master or no entry at all.
 */
export function chooseReplica({ tag, proxyport, master, masterFallback, eligible, current }: ReplicaChoiceInput): Choice {
  if (eligible.length === 0 && !masterFallback) return {};
  const chosen = eligible.length === 0 ? master : ((current && eligible.find((t) => sameTarget(t, current))) ?? eligible[0]!);
  const serving = eligible.length === 0 ? [master] : [chosen, ...eligible.filter((t) => !sameTarget(t, chosen))];
  const servers = serving.map((t) => ({ host: t.host, port: t.port, weight: DEFAULT_WEIGHT, role: 'active' as const }));
  return { entry: { name: tag, host: chosen.host, port: chosen.port, proxyport, servers } };
}
