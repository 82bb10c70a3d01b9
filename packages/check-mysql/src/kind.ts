// checkmysqlslave: a replica serves when it answers in time, both replication threads run, its
// lag is within max-lag and it replicates from the configured master. Every candidate is checked
// before it is chosen; with none healthy the entry points at the master (switchable off).
import mysql, { type Connection } from 'mysql2/promise';
import type { CheckerKind, CheckerLogger, Entry, EntryBody, Target } from '@confd-haproxy/checker';
import type { MysqlTagConfig } from './config.js';

export interface MysqlKindOptions {
  config: MysqlTagConfig;
  /** Seconds. */
  maxLag: number;
  timeoutMs: number;
  masterFallback: boolean;
  logger?: CheckerLogger;
}

interface Conn {
  conn: Connection;
}

const key = (t: Target) => `${t.host}:${t.port}`;
const same = (a: Target, b: Target) => a.host === b.host && a.port === b.port;

function privilegeHint(err: unknown): string {
  const e = err as { code?: string; errno?: number; message?: string };
  if (e.errno === 1227 || e.code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || e.errno === 1045 && /SLAVE|REPLICA/.test(e.message ?? '')) {
    return `${e.message} — on MariaDB 10.5+ the checker's user needs the SLAVE MONITOR privilege (REPLICATION CLIENT is not enough) and REPLICATION MASTER ADMIN for SHOW SLAVE HOSTS`;
  }
  return e.message ?? String(err);
}

export function mysqlKind(opts: MysqlKindOptions): CheckerKind & { close(): Promise<void> } {
  const c = opts.config;
  const master: Target = { host: c.host, port: c.port };
  const pool = new Map<string, Promise<Conn>>();
  let known: Target[] = [...c.replicas];

  const connect = (t: Target, signal: AbortSignal): Promise<Conn> => {
    let p = pool.get(key(t));
    if (!p) {
      p = mysql
        .createConnection({
          host: t.host,
          port: t.port,
          user: c.user,
          password: c.password,
          connectTimeout: opts.timeoutMs,
          ...(c.database ? { database: c.database } : {}),
          ...(c.charset ? { charset: c.charset } : {}),
        })
        .then((conn) => {
          conn.on('error', () => drop(t));
          return { conn };
        });
      p.catch(() => drop(t));
      pool.set(key(t), p);
    }
    const pending = p;
    return new Promise<Conn>((done, fail) => {
      const onAbort = () => {
        drop(t);
        fail(new Error('timed out'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (x) => {
          signal.removeEventListener('abort', onAbort);
          done(x);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          fail(err);
        },
      );
    });
  };
  /** Forget a connection after any failure or timeout: the next probe makes a new one. */
  const drop = (t: Target) => {
    const p = pool.get(key(t));
    pool.delete(key(t));
    p?.then(({ conn }) => conn.destroy(), () => {});
  };
  const query = async <R>(t: Target, sql: string, signal: AbortSignal): Promise<R[]> => {
    const { conn } = await connect(t, signal);
    try {
      const [rows] = await Promise.race([
        conn.query({ sql, timeout: opts.timeoutMs }),
        new Promise<never>((_, fail) => {
          if (signal.aborted) fail(new Error('timed out'));
          signal.addEventListener('abort', () => fail(new Error('timed out')), { once: true });
        }),
      ]);
      return rows as R[];
    } catch (err) {
      drop(t);
      throw err;
    }
  };

  /** Candidates: the static list when given, else SHOW SLAVE HOSTS, else the original's Binlog Dump hosts. */
  const discover = async (signal: AbortSignal): Promise<Target[]> => {
    if (c.replicas.length > 0) return c.replicas;
    const found: Target[] = [];
    try {
      const hosts = await query<{ Host: string; Port: number }>(master, 'SHOW SLAVE HOSTS', signal);
      for (const h of hosts) if (h.Host && h.Port) found.push({ host: h.Host, port: Number(h.Port) });
      if (hosts.length === 0) {
        const procs = await query<{ Command: string; Host: string }>(master, 'SHOW PROCESSLIST', signal);
        for (const p of procs) if (p.Command === 'Binlog Dump' || p.Command === 'Binlog Dump GTID') found.push({ host: p.Host.replace(/:\d+$/, ''), port: c.port });
      }
    } catch (err) {
      opts.logger?.warn(`${c.tag}: cannot discover replicas on the master ${key(master)} (${privilegeHint(err)}); using the last known list`);
      return known;
    }
    const unique = found.filter((t, i) => found.findIndex((x) => same(x, t)) === i && !same(t, master));
    known = unique;
    return unique;
  };

  return {
    kind: 'mysqlslave',
    targets: (signal) => discover(signal),
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
      const lag = s.Seconds_Behind_Master;
      const maxLag = c.maxLag ?? opts.maxLag;
      if (lag === null || lag === undefined) return { ok: false, reason: 'lag unknown (Seconds_Behind_Master is NULL)' };
      if (Number(lag) > maxLag) return { ok: false, reason: `lag ${String(lag)} s above ${maxLag} s` };
      if (String(s.Master_Host).toLowerCase() !== c.host.toLowerCase() || Number(s.Master_Port) !== c.port) {
        return { ok: false, reason: `replicates from ${String(s.Master_Host)}:${String(s.Master_Port)}, not ${key(master)}` };
      }
      return { ok: true };
    },
    choose(eligible, current): EntryBody | undefined {
      let chosen: Target;
      if (eligible.length === 0) {
        if (!opts.masterFallback) return undefined;
        chosen = master;
      } else {
        chosen = (current && eligible.find((t) => same(t, current))) ?? eligible[0]!;
      }
      const servers = (eligible.length ? [chosen, ...eligible.filter((t) => !same(t, chosen))] : [master]).map((t) => ({ host: t.host, port: t.port, weight: 100, role: 'active' as const }));
      return { name: c.tag, host: chosen.host, port: chosen.port, proxyport: c.proxyport, servers };
    },
    okLine: (e: Entry, storeName: string) => `${e.name} in ${storeName} is ok`,
    changedLine: (e: Entry, prev: Entry | undefined) =>
      same(e, master) ? `${e.name}: no healthy replica, set the master ${key(master)}` : `${e.name}: set ${key(e)}${prev ? ` (was ${key(prev)})` : ''} with ${e.servers.length} healthy replica(s)`,
    async close() {
      for (const t of [...pool.keys()]) {
        const [host, port] = [t.slice(0, t.lastIndexOf(':')), Number(t.slice(t.lastIndexOf(':') + 1))];
        drop({ host, port });
      }
    },
  };
}
