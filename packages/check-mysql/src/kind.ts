// checkmysqlslave: a replica serves when it answers in time, both replication threads run, its
// lag is within max-lag and it replicates from the configured master. Every candidate is checked
// before it is chosen; with none healthy the entry points at the master (switchable off).
import { withFields } from '@confd-haproxy/base';
import type { CheckerKind, CheckerLogger, Choice, Target } from '@confd-haproxy/checker';
import { DEFAULT_WEIGHT, type Entry } from '@confd-haproxy/schema';
import type { MysqlTagConfig } from './config.js';
import { MysqlConnections } from './connections.js';

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

const key = (t: Target) => `${t.host}:${t.port}`;
const same = (a: Target, b: Target) => a.host === b.host && a.port === b.port;

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
      const hosts = await query<{ Host: string; Port: number }>(master, 'SHOW SLAVE HOSTS', signal);
      for (const h of hosts) if (h.Host && Number(h.Port) > 0) found.push({ host: h.Host, port: Number(h.Port) });
    } catch (err) {
      problems.push(`SHOW SLAVE HOSTS: ${privilegeHint(err)}`);
    }
    if (found.length === 0 && !signal.aborted) {
      try {
        // Last resort, as the original: the dump thread's client host with the master's own port.
        const procs = await query<{ Command: string; Host: string }>(master, 'SHOW PROCESSLIST', signal);
        for (const p of procs) if (p.Command === 'Binlog Dump' || p.Command === 'Binlog Dump GTID') found.push({ host: p.Host.replace(/:\d+$/, ''), port: c.port });
      } catch (err) {
        problems.push(`SHOW PROCESSLIST: ${privilegeHint(err)}`);
      }
    }
    if (problems.length > 0 && found.length === 0) {
      withFields(opts.logger, { tag: c.tag, code: 'REPLICA_DISCOVERY_FAILED' })?.warn(`${c.tag}: cannot discover replicas on the master ${key(master)} (${problems.join('; ')}); using the last known list (${known.map(key).join(', ') || 'empty'})`);
      return known;
    }
    const unique = found.filter((t, i) => found.findIndex((x) => same(x, t)) === i && !same(t, master));
    known = unique;
    return unique;
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
      const s = rows[0];
      if (!s) return { ok: false, reason: 'not a replica (SHOW SLAVE STATUS is empty)' };
      if (s.Slave_IO_Running !== 'Yes') return { ok: false, reason: `IO thread not running (${String(s.Slave_IO_Running)})` };
      if (s.Slave_SQL_Running !== 'Yes') return { ok: false, reason: `SQL thread not running (${String(s.Slave_SQL_Running)})` };
      if (String(s.Master_Host).toLowerCase() !== c.host.toLowerCase() || Number(s.Master_Port) !== c.port) {
        return { ok: false, reason: `replicates from ${String(s.Master_Host)}:${String(s.Master_Port)}, not ${key(master)}` };
      }
      const lag = s.Seconds_Behind_Master;
      const maxLag = c.maxLag ?? opts.maxLag;
      if (lag === null || lag === undefined) return { ok: false, reason: 'lag unknown (Seconds_Behind_Master is NULL)' };
      if (Number(lag) > maxLag) return { ok: false, reason: `lag ${String(lag)} s above ${maxLag} s` };
      return { ok: true };
    },
    heartbeat: (t, signal) => conns.heartbeat(t, signal),
    choose({ eligible, current }): Choice {
      let chosen: Target;
      if (eligible.length === 0) {
        if (!opts.masterFallback) return {};
        chosen = master;
      } else {
        // Sticky: keep the current replica while it is eligible, so a healthy set never flaps.
        chosen = (current && eligible.find((t) => same(t, current))) ?? eligible[0]!;
      }
      const servers = (eligible.length ? [chosen, ...eligible.filter((t) => !same(t, chosen))] : [master]).map((t) => ({ host: t.host, port: t.port, weight: DEFAULT_WEIGHT, role: 'active' as const }));
      return { entry: { name: c.tag, host: chosen.host, port: chosen.port, proxyport: c.proxyport, servers } };
    },
    okLine: (e: Entry, storeName: string) => (same(e, master) ? `${e.name} in ${storeName} stays on the master ${key(master)}: no healthy replica` : `${e.name} in ${storeName} is ok`),
    changedLine: (e: Entry, prev: Entry | undefined) =>
      same(e, master) ? `${e.name}: no healthy replica, set the master ${key(master)}` : `${e.name}: set ${key(e)}${prev ? ` (was ${key(prev)})` : ''} with ${e.servers.length} healthy replica(s)`,
    async close() {
      conns.close();
    },
  };
}
