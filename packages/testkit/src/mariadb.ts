// MariaDB instances for tests: own defaults file, datadir, port and socket in a temp dir; a
// primary with GTID replicas that register with report_host/report_port.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort, handle, removeDir, startProcess, tempDir, waitForPort, type ServiceHandle } from './proc.js';

const run = promisify(execFile);

export const MONITOR = { user: 'monitor', password: 'monitorpw' };
export const ADMIN = { user: 'admin', password: 'adminpw' };
const REPL = { user: 'repl', password: 'replpw' };

export interface MariaDBHandle extends ServiceHandle {
  readonly serverId: number;
  /** Run SQL over TCP as the admin user (needs the users, i.e. a primary or a caught-up replica). */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Run SQL as root over the unix socket with the mariadb client. */
  socketSql(sql: string): Promise<string>;
}

let nextServerId = 100 + (process.pid % 1000) * 10;

export async function startMariaDB(opts: { serverId?: number; extra?: string[] } = {}): Promise<MariaDBHandle> {
  const port = await freePort();
  const dir = tempDir('mariadb');
  const serverId = opts.serverId ?? nextServerId++;
  const defaults = join(dir, 'my.cnf');
  const sock = join(dir, 'mysqld.sock');
  const log = join(dir, 'error.log');
  writeFileSync(
    defaults,
    [
      '[mysqld]',
      `datadir=${join(dir, 'data')}`,
      `port=${port}`,
      'bind-address=127.0.0.1',
      `socket=${sock}`,
      `pid-file=${join(dir, 'mysqld.pid')}`,
      `log-error=${log}`,
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
      ...(opts.extra ?? []),
      '[client]',
      `socket=${sock}`,
      '',
    ].join('\n'),
  );
  const install = () => run('/usr/bin/mariadb-install-db', [`--defaults-file=${defaults}`, '--user=root', '--skip-test-db', '--auth-root-authentication-method=socket'], { timeout: 60_000 });
  try {
    await install().catch(async () => {
      // One retry from a clean datadir: parallel first starts occasionally fail here.
      removeDir(join(dir, 'data'));
      await install();
    });
  } catch (err) {
    const e = err as { message: string; stderr?: string; stdout?: string };
    throw new Error(`mariadb-install-db failed (is the Debian package mariadb-server installed?): ${e.message}\n${(e.stderr ?? '').slice(-2000)}${(e.stdout ?? '').slice(-1000)}`);
  }
  const child = startProcess('/usr/sbin/mariadbd', [`--defaults-file=${defaults}`], { pkg: 'mariadb-server', log });
  await waitForPort(child.pid!, '127.0.0.1', port, { what: `mariadbd on ${port}`, log, timeoutMs: 60_000 });
  const socketSql = async (sql: string) => (await run('/usr/bin/mariadb', [`--defaults-file=${defaults}`, '-uroot', '-B', '-e', sql], { timeout: 30_000 })).stdout;
  const query = async <T>(sql: string): Promise<T[]> => {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, ...ADMIN, connectTimeout: 5000 });
    try {
      const [rows] = await conn.query(sql);
      return rows as T[];
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
  };
  return { ...handle(`mariadb:${port}`, child, '127.0.0.1', port, dir), serverId, query, socketSql };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ReplicationSet {
  primary: MariaDBHandle;
  replicas: MariaDBHandle[];
  stop(): Promise<void>;
}

/** A primary and N replicas with GTID replication; resolves once every replica runs and is listed. */
export async function startReplicationSet(opts: { replicas?: number } = {}): Promise<ReplicationSet> {
  const n = opts.replicas ?? 2;
  const all = await Promise.all(Array.from({ length: n + 1 }, () => startMariaDB()));
  const [primary, ...replicas] = all as [MariaDBHandle, ...MariaDBHandle[]];
  const stop = async () => {
    await Promise.all(all.map((h) => h.stop()));
  };
  try {
    const users = [
      ['127.0.0.1', 'localhost'].map((h) => `CREATE USER '${MONITOR.user}'@'${h}' IDENTIFIED BY '${MONITOR.password}'; GRANT REPLICATION CLIENT, SLAVE MONITOR, BINLOG MONITOR, REPLICATION MASTER ADMIN, PROCESS ON *.* TO '${MONITOR.user}'@'${h}';`).join(' '),
      `CREATE USER '${ADMIN.user}'@'127.0.0.1' IDENTIFIED BY '${ADMIN.password}'; GRANT ALL ON *.* TO '${ADMIN.user}'@'127.0.0.1' WITH GRANT OPTION;`,
      `CREATE USER '${REPL.user}'@'127.0.0.1' IDENTIFIED BY '${REPL.password}'; GRANT REPLICATION SLAVE ON *.* TO '${REPL.user}'@'127.0.0.1';`,
      'CREATE DATABASE IF NOT EXISTS checktest;',
    ].join(' ');
    await primary.socketSql(users);
    await Promise.all(
      replicas.map((r) =>
        r.socketSql(
          `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='${REPL.user}', MASTER_PASSWORD='${REPL.password}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;`,
        ),
      ),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      const hosts = await primary.query<{ Port: number }>('SHOW SLAVE HOSTS');
      const states = await Promise.all(replicas.map((r) => r.socketSql('SHOW SLAVE STATUS\\G')));
      const running = states.every((s) => /Slave_IO_Running: Yes/.test(s) && /Slave_SQL_Running: Yes/.test(s));
      const users = await Promise.all(replicas.map((r) => r.socketSql(`SELECT COUNT(*) FROM mysql.user WHERE user='${ADMIN.user}'`)));
      if (running && hosts.length === replicas.length && users.every((u) => u.trim().split('\n').pop() === '1')) break;
      if (Date.now() > deadline) throw new Error(`replication did not start within 60 s: ${states.join('\n')}`);
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { primary, replicas, stop };
}
