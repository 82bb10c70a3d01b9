// A MariaDB Galera cluster for tests: N mariadbd on loopback, each with its own dir and free
// ports; the first bootstraps, the others join by rsync SST. Nodes can be killed and restarted.
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { LauncherError, logTail } from './errors.js';
import { ADMIN, MARIADB_REQUIRES, MONITOR, type MariaDBHandle } from './mariadb.js';
import { freePort, waitForPort } from './ports.js';
import { alive, attachDir, handle, removeDir, runBounded, startProcess, tempDir } from './proc.js';
import type { Requirement } from './requirement.js';
import { sleep } from './sleep.js';

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_DB = '/usr/bin/mariadb-install-db';
const CLIENT = '/usr/bin/mariadb';
const PROVIDER = '/usr/lib/galera/libgalera_smm.so';
const STOCK_SST = '/usr/bin/wsrep_sst_rsync';
const STOCK_SST_COMMON = '/usr/bin/wsrep_sst_common';

export const GALERA_REQUIRES: readonly Requirement[] = [...MARIADB_REQUIRES, { name: 'galera', path: PROVIDER, pkg: 'galera-4' }];

/** Our SST method: the stock rsync script whose rsync daemon stays root (see sstScript). */
const SST_METHOD = 'rsync_root';

// Galera's default failure detection (a killed node is evicted after about 5 s): with 2-3 s, a
// node that a loaded machine leaves without CPU for that long was cut off and aborted its join.
const EVS = [
  'evs.keepalive_period=PT1S',
  'evs.inactive_check_period=PT0.5S',
  'evs.suspect_timeout=PT5S',
  'evs.inactive_timeout=PT15S',
  'evs.install_timeout=PT7.5S',
];

export interface GaleraOptions {
  /** Cluster size, default 3. */
  nodes?: number;
  /** Bound on the whole start (bootstrap, every join, sync), default 90 s. */
  timeoutMs?: number;
  /** Extra `[mysqld]` lines for every node (e.g. ssl_cert=...). */
  extra?: string[];
}

export interface GaleraNode extends MariaDBHandle {
  /** Position in cluster.nodes (node 0 bootstrapped the cluster). */
  readonly index: number;
  /** Group communication port (gcomm), listed in every node's wsrep_cluster_address. */
  readonly gcommPort: number;
  /**
   * stop() and kill() act on this mariadbd process only; its dir (data, config, error log) stays
   * for cluster.restart() and is removed by cluster.stop().
   */
  stop(): Promise<void>;
}

export interface GaleraCluster {
  readonly name: string;
  /** The current handle of each node; restart() replaces the entry at node.index. */
  readonly nodes: GaleraNode[];
  /**
   * Wait until every listed node (default: all) reports wsrep_local_state=4 (Synced), a Primary
   * component and wsrep_cluster_size equal to the number listed. Default timeout 30 s.
   */
  waitSynced(nodes?: readonly GaleraNode[], timeoutMs?: number): Promise<void>;
  /**
   * Start a stopped or killed node again (a running one is stopped first) with the same ports and
   * datadir; it rejoins by IST or SST. Resolves with the new handle once it is Synced in a
   * Primary component as large as the number of running nodes. Default timeout 60 s.
   */
  restart(node: GaleraNode, timeoutMs?: number): Promise<GaleraNode>;
  /** Stop every node (in parallel) and remove the cluster's temp dir. Idempotent. */
  stop(): Promise<void>;
}

interface NodeSpec {
  index: number;
  dir: string;
  defaults: string;
  socket: string;
  errorLog: string;
  serverId: number;
  port: number;
  gcommPort: number;
}

let nextServerId = 5000 + (process.pid % 1000) * 10;

/**
 * The stock rsync SST script with `uid = root` / `gid = root` in the joiner's rsyncd.conf. As
 * root the daemon otherwise drops to nobody, which cannot enter the 0700 datadir. It gets its
 * own method name: mariadbd puts its own bin dir first on the script's PATH, so a copy under the
 * stock name would lose to /usr/bin/wsrep_sst_rsync.
 */
function writeSstScript(binDir: string): void {
  for (const f of [STOCK_SST, STOCK_SST_COMMON]) {
    if (!existsSync(f)) throw new LauncherError('MISSING_BINARY', `${f} is missing: install the Debian package mariadb-server (npm test does this as root)`);
  }
  if (!existsSync('/usr/bin/rsync')) throw new LauncherError('MISSING_BINARY', '/usr/bin/rsync is missing: install the Debian package rsync (npm test does this as root)');
  const stock = readFileSync(STOCK_SST, 'utf8');
  const anchor = /^use chroot = no$/m;
  if (!anchor.test(stock)) throw new LauncherError('SETUP', `${STOCK_SST} has no "use chroot = no" line to add "uid = root" after: its rsyncd.conf changed`);
  mkdirSync(binDir, { recursive: true });
  const script = join(binDir, `wsrep_sst_${SST_METHOD}`);
  writeFileSync(script, stock.replace(anchor, 'use chroot = no\nuid = root\ngid = root'));
  chmodSync(script, 0o755);
  // The script sources $(dirname "$0")/wsrep_sst_common.
  symlinkSync(STOCK_SST_COMMON, join(binDir, 'wsrep_sst_common'));
}

function galeraDefaults(spec: NodeSpec, clusterName: string, clusterAddress: string, istPort: number, sstPort: number, extra: readonly string[]): string {
  const { dir, port } = spec;
  const provider = [`gmcast.listen_addr=tcp://127.0.0.1:${spec.gcommPort}`, `ist.recv_addr=127.0.0.1:${istPort}`, 'gcache.size=32M', ...EVS].join(';');
  return [
    '[mysqld]',
    `datadir=${join(dir, 'data')}`,
    `port=${port}`,
    'bind-address=127.0.0.1',
    `socket=${spec.socket}`,
    `pid-file=${join(dir, 'mysqld.pid')}`,
    `log-error=${spec.errorLog}`,
    'user=root',
    `server_id=${spec.serverId}`,
    'binlog_format=ROW',
    'default_storage_engine=InnoDB',
    'innodb_autoinc_lock_mode=2',
    'innodb_buffer_pool_size=32M',
    'innodb_log_file_size=16M',
    'skip-name-resolve',
    'performance_schema=OFF',
    'max_connections=200',
    'wsrep_on=ON',
    `wsrep_provider=${PROVIDER}`,
    `wsrep_cluster_name=${clusterName}`,
    `wsrep_cluster_address=${clusterAddress}`,
    'wsrep_node_address=127.0.0.1',
    `wsrep_node_name=node${spec.index}`,
    `wsrep_node_incoming_address=127.0.0.1:${port}`,
    `wsrep_provider_options="${provider}"`,
    `wsrep_sst_method=${SST_METHOD}`,
    `wsrep_sst_receive_address=127.0.0.1:${sstPort}`,
    ...extra,
    '[client]',
    `socket=${spec.socket}`,
    '',
  ].join('\n');
}

// Run on the bootstrap node only: Galera replicates users, grants and the database to the
// joiners (they get it all by SST anyway).
const SETUP_SQL = [
  ...['127.0.0.1', 'localhost'].flatMap((h) => [
    `CREATE USER '${MONITOR.user}'@'${h}' IDENTIFIED BY '${MONITOR.password}';`,
    `GRANT REPLICATION CLIENT, SLAVE MONITOR, BINLOG MONITOR, PROCESS ON *.* TO '${MONITOR.user}'@'${h}';`,
    `GRANT SELECT ON checktest.* TO '${MONITOR.user}'@'${h}';`,
    `CREATE USER '${ADMIN.user}'@'${h}' IDENTIFIED BY '${ADMIN.password}';`,
    `GRANT ALL ON *.* TO '${ADMIN.user}'@'${h}' WITH GRANT OPTION;`,
  ]),
  'CREATE DATABASE checktest;',
  'CREATE TABLE checktest.t (id INT PRIMARY KEY);',
].join(' ');

function setupError(what: string, err: unknown, log?: string): LauncherError {
  return new LauncherError('SETUP', `${what}: ${(err as Error).message}${logTail(log)}`, { cause: err });
}

/** The wsrep_% status variables of a node, as a name → value map. */
async function wsrepStatus(node: MariaDBHandle): Promise<Record<string, string>> {
  const rows = await node.query<{ Variable_name: string; Value: string }>("SHOW GLOBAL STATUS LIKE 'wsrep%'");
  return Object.fromEntries(rows.map((r) => [r.Variable_name.toLowerCase(), String(r.Value)]));
}

function describe(s: Record<string, string> | undefined): string {
  if (!s) return 'no answer';
  return `state ${s.wsrep_local_state} (${s.wsrep_local_state_comment}), ${s.wsrep_cluster_status}, size ${s.wsrep_cluster_size}, ready ${s.wsrep_ready}`;
}

/**
 * A Galera cluster of N nodes (default 3) on loopback. Node 0 bootstraps it (users MONITOR and
 * ADMIN, database `checktest` with table `t`), the others join one at a time by SST; resolves once
 * all are Synced in one Primary component. MONITOR can read wsrep status, global variables and
 * checktest.
 */
export async function startGaleraCluster(opts: GaleraOptions = {}): Promise<GaleraCluster> {
  for (const [bin, pkg] of [[MARIADBD, 'mariadb-server'], [INSTALL_DB, 'mariadb-server'], [CLIENT, 'mariadb-client'], [PROVIDER, 'galera-4']] as const) {
    if (!existsSync(bin)) throw new LauncherError('MISSING_BINARY', `${bin} is missing: install the Debian package ${pkg} (npm test does this as root)`);
  }
  const n = opts.nodes ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new LauncherError('SETUP', `a Galera cluster needs 1 to 9 nodes, not ${n}`);
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());

  const root = tempDir('galera');
  const name = `confd-haproxy-test-${process.pid}-${root.slice(-6)}`;
  const sstBin = join(root, 'bin');
  const env = { ...process.env, PATH: `${sstBin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
  const specs: NodeSpec[] = [];
  const nodes: GaleraNode[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.allSettled(nodes.map((node) => node.stop()));
      removeDir(root);
    })();
    return stopping;
  };

  // Start mariadbd for a spec; resolves once it accepts connections on its port.
  const launch = async (spec: NodeSpec, args: string[], waitMs: number): Promise<GaleraNode> => {
    // A tmpdir per process: the handle's dir, removed when this process stops (data stays).
    let run = 0;
    while (existsSync(join(spec.dir, `tmp-${run}`)) && run < 1000) run++;
    const tmp = join(spec.dir, `tmp-${run}`);
    mkdirSync(tmp);
    const child = startProcess(MARIADBD, [`--defaults-file=${spec.defaults}`, `--tmpdir=${tmp}`, ...args], { pkg: 'mariadb-server', log: spec.errorLog, env });
    const base = handle(`galera-node${spec.index}:${spec.port}`, child, '127.0.0.1', spec.port, tmp, { graceMs: 10_000 });
    // If the test process exits without stop(), the exit hook removes the whole cluster dir.
    attachDir(base.pid, root);
    const socketSql = async (sql: string): Promise<string> => {
      try {
        return (await runBounded(CLIENT, [`--defaults-file=${spec.defaults}`, '-uroot', '-B', '-e', sql], { pkg: 'mariadb-client', timeoutMs: 30_000 })).stdout;
      } catch (err) {
        throw setupError(`galera node${spec.index}:${spec.port}: SQL over ${spec.socket} failed`, err);
      }
    };
    const query = async <T>(sql: string): Promise<T[]> => {
      const conn = await mysql.createConnection({ host: '127.0.0.1', port: spec.port, ...ADMIN, connectTimeout: 5000 });
      try {
        const [rows] = await conn.query({ sql, timeout: 30_000 });
        return rows as T[];
      } finally {
        await conn.end().catch(() => conn.destroy());
      }
    };
    const node: GaleraNode = {
      ...base,
      dir: spec.dir,
      index: spec.index,
      gcommPort: spec.gcommPort,
      serverId: spec.serverId,
      socket: spec.socket,
      defaultsFile: spec.defaults,
      errorLog: spec.errorLog,
      query,
      socketSql,
    };
    try {
      await waitForPort(node.pid, '127.0.0.1', spec.port, { what: `galera node${spec.index} mariadbd`, log: spec.errorLog, timeoutMs: waitMs });
    } catch (err) {
      await node.stop();
      throw err;
    }
    return node;
  };

  // Bounded wait for wsrep_ready=ON, asked over the socket as root (the admin user does not exist yet).
  const waitReadyOverSocket = async (node: GaleraNode, waitMs: number): Promise<void> => {
    const until = Date.now() + waitMs;
    for (let round = 0; ; round++) {
      if (!alive(node.pid)) throw new LauncherError('EXITED', `galera node${node.index} (pid ${node.pid}) is not running${logTail(node.errorLog)}`);
      const out = await node.socketSql("SHOW GLOBAL STATUS LIKE 'wsrep_ready'").catch(() => '');
      if (/wsrep_ready\s+ON/.test(out)) return;
      if (Date.now() >= until || round >= waitMs / 50) throw new LauncherError('TIMEOUT', `galera node${node.index}: wsrep not ready within ${waitMs} ms${logTail(node.errorLog)}`);
      await sleep(100);
    }
  };

  // Bounded wait for the listed nodes to be Synced in one Primary component of their number.
  const waitSynced = async (list: readonly GaleraNode[] = nodes, waitMs = 30_000): Promise<void> => {
    const until = Date.now() + waitMs;
    const last: (Record<string, string> | undefined)[] = [];
    for (let round = 0; ; round++) {
      const dead = list.find((node) => !alive(node.pid));
      if (dead) throw new LauncherError('EXITED', `galera node${dead.index} (pid ${dead.pid}) is not running${logTail(dead.errorLog)}`);
      const states = await Promise.all(list.map((node) => wsrepStatus(node).catch(() => undefined)));
      states.forEach((s, i) => (last[i] = s));
      const synced = states.every(
        (s) => s?.wsrep_local_state === '4' && s.wsrep_cluster_status === 'Primary' && s.wsrep_ready === 'ON' && Number(s.wsrep_cluster_size) === list.length,
      );
      if (synced) return;
      if (Date.now() >= until || round >= waitMs / 50) {
        const detail = list.map((node, i) => `node${node.index}: ${describe(last[i])}`).join('; ');
        throw new LauncherError('TIMEOUT', `galera nodes ${list.map((x) => x.index).join(', ')} not synced in a Primary component of ${list.length} within ${waitMs} ms: ${detail}`);
      }
      await sleep(100);
    }
  };

  const restart = async (old: GaleraNode, waitMs = 60_000): Promise<GaleraNode> => {
    const spec = specs[old.index];
    if (!spec || nodes[old.index] !== old) throw new LauncherError('SETUP', `galera node${old.index} (pid ${old.pid}) is not a current node of cluster ${name}`);
    if (stopping) throw new LauncherError('SETUP', `cluster ${name} is stopped`);
    const until = Date.now() + waitMs;
    await old.stop();
    const node = await launch(spec, [], Math.max(1000, until - Date.now()));
    nodes[spec.index] = node;
    // Wait on this node only: a killed peer still counts until the others evict it.
    let s: Record<string, string> | undefined;
    for (let round = 0; ; round++) {
      if (!alive(node.pid)) throw new LauncherError('EXITED', `galera node${node.index} (pid ${node.pid}) exited while rejoining${logTail(node.errorLog)}`);
      s = await wsrepStatus(node).catch(() => undefined);
      const running = nodes.filter((x) => alive(x.pid)).length;
      if (s?.wsrep_local_state === '4' && s.wsrep_cluster_status === 'Primary' && Number(s.wsrep_cluster_size) === running) return node;
      if (Date.now() >= until || round >= waitMs / 50) {
        throw new LauncherError('TIMEOUT', `galera node${node.index} did not rejoin within ${waitMs} ms (${running} nodes running): ${describe(s)}${logTail(node.errorLog)}`);
      }
      await sleep(100);
    }
  };

  try {
    writeSstScript(sstBin);
    for (let i = 0; i < n; i++) {
      const dir = join(root, `node${i}`);
      mkdirSync(join(dir, 'data'), { recursive: true });
      specs.push({
        index: i,
        dir,
        defaults: join(dir, 'my.cnf'),
        socket: join(dir, 'mysqld.sock'),
        errorLog: join(dir, 'error.log'),
        serverId: nextServerId++,
        port: await freePort(),
        gcommPort: await freePort(),
      });
    }
    const clusterAddress = `gcomm://${specs.map((s) => `127.0.0.1:${s.gcommPort}`).join(',')}`;
    for (const spec of specs) writeFileSync(spec.defaults, galeraDefaults(spec, name, clusterAddress, await freePort(), await freePort(), opts.extra ?? []));

    // Node 0: a system datadir, a new cluster, the users and checktest.
    const first = specs[0]!;
    const install = () =>
      runBounded(INSTALL_DB, [`--defaults-file=${first.defaults}`, '--user=root', '--skip-test-db', '--auth-root-authentication-method=socket'], { pkg: 'mariadb-server', timeoutMs: 60_000 });
    try {
      await install().catch(async () => {
        // One retry from a clean datadir, as startMariaDB does.
        removeDir(join(first.dir, 'data'));
        await install();
      });
    } catch (err) {
      throw setupError('mariadb-install-db failed', err);
    }
    nodes.push(await launch(first, ['--wsrep-new-cluster'], left()));
    // The port opens before wsrep is ready; SQL before that fails with "WSREP has not yet prepared node".
    await waitReadyOverSocket(nodes[0]!, left());
    await nodes[0]!.socketSql(SETUP_SQL);
    await waitSynced(nodes.slice(0, 1), left());

    // The joiners start with an empty datadir and get everything by SST, one at a time (with one
    // donor a second joiner would only wait for it).
    for (const spec of specs.slice(1)) {
      nodes.push(await launch(spec, [], left()));
      await waitSynced(nodes, left());
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, nodes, waitSynced, restart, stop };
}
