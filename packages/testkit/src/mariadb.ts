// MariaDB instances for tests: own defaults file, datadir, port and socket in a temp dir; a
// primary with GTID replicas that register with report_host/report_port.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { LauncherError, logTail } from './errors.js';
import { freePort, waitForPort } from './ports.js';
import { handle, removeDir, runBounded, startProcess, tempDir, type ServiceHandle } from './proc.js';
import type { Requirement } from './requirement.js';
import { sleep } from './sleep.js';

/** What checkers log in with over TCP (SHOW SLAVE STATUS needs SLAVE MONITOR on 10.11). */
export const MONITOR = { user: 'monitor', password: 'monitorpw' } as const;
/** ALL privileges over TCP, for tests (root is unix-socket only on a fresh datadir). */
export const ADMIN = { user: 'admin', password: 'adminpw' } as const;
/** What replicas connect to their primary with. */
export const REPL = { user: 'repl', password: 'replpw' } as const;

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_DB = '/usr/bin/mariadb-install-db';
const CLIENT = '/usr/bin/mariadb';

export const MARIADB_REQUIRES: readonly Requirement[] = [
  { name: 'mariadbd', path: MARIADBD, pkg: 'mariadb-server' },
  { name: 'mariadb-install-db', path: INSTALL_DB, pkg: 'mariadb-server' },
];

export interface MariaDBOptions {
  serverId?: number;
  /** Extra `[mysqld]` lines, e.g. `read_only=1`. */
  extra?: string[];
  /** Bound on the start (install-db excluded), default 60 s. */
  timeoutMs?: number;
}

export interface MariaDBHandle extends ServiceHandle {
  readonly serverId: number;
  readonly socket: string;
  readonly defaultsFile: string;
  readonly errorLog: string;
  /** Run SQL over TCP as the admin user (connect timeout 5 s, query timeout 30 s). */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Run SQL as root over the unix socket with the mariadb client; returns its batch output. */
  socketSql(sql: string): Promise<string>;
}

let nextServerId = 100 + (process.pid % 1000) * 10;

function defaultsFile(dir: string, port: number, serverId: number, extra: readonly string[]): string {
  const sock = join(dir, 'mysqld.sock');
  return [
    '[mysqld]',
    `datadir=${join(dir, 'data')}`,
    `port=${port}`,
    'bind-address=127.0.0.1',
    `socket=${sock}`,
    `pid-file=${join(dir, 'mysqld.pid')}`,
    `log-error=${join(dir, 'error.log')}`,
    'user=root',
    `server_id=${serverId}`,
    `log_bin=${join(dir, 'binlog')}`,
    'binlog_format=ROW',
    'gtid_strict_mode=1',
    'log_slave_updates=1',
    'report_host=127.0.0.1',
    `report_port=${port}`,
    'innodb_buffer_pool_size=32M',
    'innodb_log_file_size=16M',
    'skip-name-resolve',
    'performance_schema=OFF',
    'max_connections=200',
    ...extra,
    '[client]',
    `socket=${sock}`,
    '',
  ].join('\n');
}

// Created on every instance without binlogging, so replicas have them before replication runs
// and the primary's binlog holds no CREATE USER to clash with them.
const USERS_SQL = [
  'SET SESSION sql_log_bin=0;',
  ...['127.0.0.1', 'localhost'].flatMap((h) => [
    `CREATE USER '${MONITOR.user}'@'${h}' IDENTIFIED BY '${MONITOR.password}';`,
    `GRANT REPLICATION CLIENT, SLAVE MONITOR, BINLOG MONITOR, REPLICATION MASTER ADMIN, PROCESS, REPLICATION SLAVE ON *.* TO '${MONITOR.user}'@'${h}';`,
    `CREATE USER '${ADMIN.user}'@'${h}' IDENTIFIED BY '${ADMIN.password}';`,
    `GRANT ALL ON *.* TO '${ADMIN.user}'@'${h}' WITH GRANT OPTION;`,
  ]),
  `CREATE USER '${REPL.user}'@'127.0.0.1' IDENTIFIED BY '${REPL.password}';`,
  `GRANT REPLICATION SLAVE ON *.* TO '${REPL.user}'@'127.0.0.1';`,
].join(' ');

function setupError(what: string, err: unknown, log?: string): LauncherError {
  return new LauncherError('SETUP', `${what}: ${(err as Error).message}${logTail(log)}`, { cause: err });
}

/**
 * One mariadbd on a free loopback port, with users MONITOR, ADMIN and REPL. Binlog, GTID strict
 * mode and report_host/report_port are on, so it can be a primary or a replica.
 */
export async function startMariaDB(opts: MariaDBOptions = {}): Promise<MariaDBHandle> {
  for (const [bin, pkg] of [[MARIADBD, 'mariadb-server'], [INSTALL_DB, 'mariadb-server'], [CLIENT, 'mariadb-client']] as const) {
    if (!existsSync(bin)) throw new LauncherError('MISSING_BINARY', `${bin} is missing: install the Debian package ${pkg} (npm test does this as root)`);
  }
  const port = await freePort();
  const dir = tempDir('mariadb');
  const serverId = opts.serverId ?? nextServerId++;
  const defaults = join(dir, 'my.cnf');
  const socket = join(dir, 'mysqld.sock');
  const errorLog = join(dir, 'error.log');
  writeFileSync(defaults, defaultsFile(dir, port, serverId, opts.extra ?? []));
  const install = () => runBounded(INSTALL_DB, [`--defaults-file=${defaults}`, '--user=root', '--skip-test-db', '--auth-root-authentication-method=socket'], { pkg: 'mariadb-server', timeoutMs: 60_000 });
  try {
    await install().catch(async () => {
      // One retry from a clean datadir: parallel first starts occasionally fail here.
      removeDir(join(dir, 'data'));
      await install();
    });
  } catch (err) {
    removeDir(dir);
    throw setupError('mariadb-install-db failed', err);
  }
  let child;
  try {
    child = startProcess(MARIADBD, [`--defaults-file=${defaults}`], { pkg: 'mariadb-server', log: errorLog, dir });
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  const base = handle(`mariadb:${port}`, child, '127.0.0.1', port, dir, { graceMs: 10_000 });
  const socketSql = async (sql: string): Promise<string> => {
    try {
      return (await runBounded(CLIENT, [`--defaults-file=${defaults}`, '-uroot', '-B', '-e', sql], { pkg: 'mariadb-client', timeoutMs: 30_000 })).stdout;
    } catch (err) {
      throw setupError(`mariadb:${port}: SQL over ${socket} failed`, err);
    }
  };
  const query = async <T>(sql: string): Promise<T[]> => {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, ...ADMIN, connectTimeout: 5000 });
    try {
      const [rows] = await conn.query({ sql, timeout: 30_000 });
      return rows as T[];
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
  };
  try {
    await waitForPort(child.pid!, '127.0.0.1', port, { what: 'mariadbd', log: errorLog, timeoutMs: opts.timeoutMs ?? 60_000 });
    await socketSql(USERS_SQL);
  } catch (err) {
    await base.stop();
    throw err;
  }
  return { ...base, serverId, socket, defaultsFile: defaults, errorLog, query, socketSql };
}

export interface ReplicationSetOptions {
  replicas?: number;
  /** Extra `[mysqld]` lines for every instance (e.g. ssl_cert=...). */
  extra?: string[];
  /** Bound on replication coming up after the instances started, default 60 s. */
  timeoutMs?: number;
}

export interface ReplicationSet {
  primary: MariaDBHandle;
  replicas: MariaDBHandle[];
  /** Stop every instance (in parallel) and remove their temp dirs. */
  stop(): Promise<void>;
}

interface SlaveStatus {
  Slave_IO_Running?: string;
  Slave_SQL_Running?: string;
  Last_IO_Error?: string;
  Last_SQL_Error?: string;
}

/**
 * A primary and N replicas (default 2) with GTID replication; resolves once every replica's IO and
 * SQL threads run and the primary's SHOW SLAVE HOSTS lists them all. Creates database `checktest`.
 */
export async function startReplicationSet(opts: ReplicationSetOptions = {}): Promise<ReplicationSet> {
  const n = opts.replicas ?? 2;
  const started = await Promise.allSettled(Array.from({ length: n + 1 }, () => startMariaDB(opts.extra ? { extra: opts.extra } : {})));
  const all = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(all.map((h) => h.stop()));
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const [primary, ...replicas] = all as [MariaDBHandle, ...MariaDBHandle[]];
  try {
    await primary.query('CREATE DATABASE IF NOT EXISTS checktest');
    await Promise.all(
      replicas.map((r) =>
        r.query(
          `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='${REPL.user}', MASTER_PASSWORD='${REPL.password}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
        ),
      ),
    );
    await Promise.all(replicas.map((r) => r.query('START SLAVE')));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const hosts = await primary.query<{ Port: number }>('SHOW SLAVE HOSTS');
      const states = await Promise.all(replicas.map(async (r) => (await r.query<SlaveStatus>('SHOW SLAVE STATUS'))[0] ?? {}));
      const listed = replicas.every((r) => hosts.some((h) => Number(h.Port) === r.port));
      const running = states.every((s) => s.Slave_IO_Running === 'Yes' && s.Slave_SQL_Running === 'Yes');
      if (listed && running) break;
      last = `SHOW SLAVE HOSTS ports [${hosts.map((h) => h.Port).join(', ')}]; ${states
        .map((s, i) => `replica ${replicas[i]!.port}: IO ${s.Slave_IO_Running} SQL ${s.Slave_SQL_Running} ${s.Last_IO_Error ?? ''} ${s.Last_SQL_Error ?? ''}`.trim())
        .join('; ')}`;
      if (Date.now() > deadline) throw new LauncherError('TIMEOUT', `replication did not come up within ${timeoutMs} ms: ${last}`);
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { primary, replicas, stop };
}
