// checkmysqlslave: a replica serves when it answers in time, both replication threads run, its
// lag is within max-lag and it replicates from the configured master. Every candidate is checked
// before it is chosen; with none healthy the entry points at the master (switchable off).
import { withFields } from '@confd-haproxy/base';
import { sameTarget, targetId, type CheckerKind, type CheckerLogger, type Choice, type Target } from '@confd-haproxy/checker';
import type { Entry } from '@confd-haproxy/schema';
import type { MysqlTagConfig } from './config.js';
import { MysqlConnections } from './connections.js';
import { candidates, chooseReplica, dumpThreadHosts, replicaHealth, reportedReplicas } from './rules.js';

export interface MysqlKindOptions {
  config: MysqlTagConfig;
  /** Largest Seconds_Behind_Master still served (seconds); db.conf's max_lag wins. */
  maxLag: number;
  /** Connect and query deadline (ms); a connection that hit it is destroyed and made anew. */
  timeoutMs: number;
  /** With no healthy replica, point the entry at the master (the original's behaviour). */
  masterFallback: boolean;
  logger?: CheckerLogger;
}

export type MysqlKind = CheckerKind & { close(): Promise<void> };


/** The key segment of this kind's entries: haproxy/mysqlslave/<tag>. */
export const MYSQL_KIND = 'mysqlslave';

/** The original's Perl said nothing useful here; say which privilege is missing. */
export function privilegeHint(err: unknown): string {
  const e = err as { code?: string; errno?: number; message?: string };
  if (e.errno === 1227 || e.code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR') {
    return `${e.message ?? 'access denied'} — the checker's user needs the SLAVE MONITOR privilege on MariaDB 10.11 (10.5 and later) for SHOW SLAVE STATUS: REPLICATION CLIENT is not enough; SHOW SLAVE HOSTS on the master needs REPLICATION MASTER ADMIN (GRANT SLAVE MONITOR, REPLICATION MASTER ADMIN ON *.* TO ...)`;
  }
  return e.message ?? String(err);
}

export function mysqlKind(opts: MysqlKindOptions): MysqlKind {
  const c = opts.config;
  const master: Target = { host: c.host, port: c.port };
  let lost: ((t: Target, reason: string) => void) | undefined;
  const conns = new MysqlConnections({ user: c.user, password: c.password, timeoutMs: opts.timeoutMs, ...(c.charset ? { charset: c.charset } : {}), ...(c.tls ? { tls: c.tls } : {}), onLost: (t, reason) => lost?.(t, reason) });
  let known: Target[] = [...c.replicas];
  const query = <R>(t: Target, sql: string, signal: AbortSignal) => conns.query<R>(t, sql, signal);

  /** Candidates: the static list when given, else SHOW SLAVE HOSTS, else the original's Binlog Dump hosts. */
  const discover = async (signal: AbortSignal): Promise<Target[]> => {
    if (c.replicas.length > 0) return c.replicas;
    const found: Target[] = [];
    const problems: string[] = [];
    try {
      // Host/Port are each replica's report_host/report_port.
      found.push(...reportedReplicas(await query<{ Host: string; Port: number }>(master, 'SHOW SLAVE HOSTS', signal)));
    } catch (err) {
      problems.push(`SHOW SLAVE HOSTS: ${privilegeHint(err)}`);
    }
    if (found.length === 0 && !signal.aborted) {
      try {
        found.push(...dumpThreadHosts(await query<{ Command: string; Host: string }>(master, 'SHOW PROCESSLIST', signal), c.port));
      } catch (err) {
        problems.push(`SHOW PROCESSLIST: ${privilegeHint(err)}`);
      }
    }
    if (problems.length > 0 && found.length === 0) {
      withFields(opts.logger, { tag: c.tag, code: 'REPLICA_DISCOVERY_FAILED' })?.warn(`${c.tag}: cannot discover replicas on the master ${targetId(master)} (${problems.join('; ')}); using the last known list (${known.map(targetId).join(', ') || 'empty'})`);
      return known;
    }
    known = candidates(found, master);
    return known;
  };

  return {
    kind: MYSQL_KIND,
    targets: (signal) => discover(signal),
    onConnectionLost(fn) {
      lost = fn;
    },
    async probe(t, signal) {
      let rows: Record<string, unknown>[];
      try {
        rows = await query<Record<string, unknown>>(t, 'SHOW SLAVE STATUS', signal);
      } catch (err) {
        return { ok: false, reason: privilegeHint(err) };
      }
      return replicaHealth(rows[0], { master, maxLag: c.maxLag ?? opts.maxLag });
    },
    heartbeat: (t, signal) => conns.heartbeat(t, signal),
    choose: ({ eligible, current }): Choice => chooseReplica({ tag: c.tag, proxyport: c.proxyport, master, masterFallback: opts.masterFallback, eligible, current }),
    okLine: (e: Entry, storeName: string) => (sameTarget(e, master) ? `${e.name} in ${storeName} stays on the master ${targetId(master)}: no healthy replica` : `${e.name} in ${storeName} is ok`),
    changedLine: (e: Entry, prev: Entry | undefined) =>
      sameTarget(e, master) ? `${e.name}: no healthy replica, set the master ${targetId(master)}` : `${e.name}: set ${targetId(e)}${prev ? ` (was ${targetId(prev)})` : ''} with ${e.servers.length} healthy replica(s)`,
    async close() {
      conns.close();
    },
  };
}
