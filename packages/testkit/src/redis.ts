// Redis for tests: our own redis-server primaries and replicas, and redis-sentinel, on free
// loopback ports in temp dirs (nothing kept on disk), stopped by PID. Commands go through
// redis-cli, so test support needs no Redis client of its own.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LauncherError } from './errors.js';
import { freePort, waitForPort } from './ports.js';
import { handle, removeDir, runBounded, startProcess, tempDir, type ServiceHandle } from './proc.js';
import type { Requirement } from './requirement.js';
import { sleep } from './sleep.js';

const SERVER = '/usr/bin/redis-server';
const SENTINEL = '/usr/bin/redis-sentinel';
const CLI = '/usr/bin/redis-cli';

export const REDIS_REQUIRES: readonly Requirement[] = [
  { name: 'redis-server', path: SERVER, pkg: 'redis-server' },
  { name: 'redis-sentinel', path: SENTINEL, pkg: 'redis-sentinel' },
];

export interface RedisHandle extends ServiceHandle {
  /** Run one command with redis-cli (5 s bound); returns its raw output, trimmed. */
  cli(...args: string[]): Promise<string>;
}

export interface RedisOptions {
  port?: number;
  /** Start as a replica of this primary port on 127.0.0.1. */
  replicaOf?: number;
  /** requirepass (and masterauth) for the server. */
  password?: string;
  /** Extra `--name value` flags. */
  args?: string[];
  timeoutMs?: number;
  /** Serve TLS only, on the port, with this certificate; clients must show a certificate signed by `ca` when `requireClientCert`. */
  tls?: { cert: string; key: string; ca: string; requireClientCert?: boolean };
}

async function cliOn(port: number, args: readonly string[], password?: string, tlsArgs: readonly string[] = []): Promise<string> {
  const env = password ? { ...process.env, REDISCLI_AUTH: password } : process.env;
  const r = await runBounded(CLI, ['-h', '127.0.0.1', '-p', String(port), ...tlsArgs, ...args], { pkg: 'redis-tools', timeoutMs: 5000, env });
  return r.stdout.trim();
}

function started(name: string, bin: string, args: string[], port: number, dir: string, log: string, timeoutMs: number, password?: string, tlsArgs: readonly string[] = []): Promise<RedisHandle> {
  const child = (() => {
    try {
      return startProcess(bin, args, { pkg: bin === SENTINEL ? 'redis-sentinel' : 'redis-server', output: log, dir });
    } catch (err) {
      removeDir(dir);
      throw err;
    }
  })();
  const h = handle(`${name}:${port}`, child, '127.0.0.1', port, dir, { graceMs: 3000 });
  return waitForPort(child.pid!, '127.0.0.1', port, { what: name, timeoutMs, log }).then(
    () => ({ ...h, cli: (...a: string[]) => cliOn(port, a, password, tlsArgs) }),
    async (err: unknown) => {
      await h.stop();
      throw err;
    },
  );
}

/** One redis-server in the foreground: no RDB, no AOF, bound to 127.0.0.1. */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisHandle> {
  const port = opts.port ?? (await freePort());
  const dir = tempDir('redis');
  const log = join(dir, 'redis.log');
  const t = opts.tls;
  const listen = t
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', t.cert, '--tls-key-file', t.key, '--tls-ca-cert-file', t.ca, '--tls-auth-clients', t.requireClientCert ? 'yes' : 'no', '--tls-replication', 'yes']
    : ['--port', String(port)];
  // redis-cli shows the server's own certificate as its client certificate (it is made for both uses).
  const cliTls = t ? ['--tls', '--cacert', t.ca, '--cert', t.cert, '--key', t.key] : [];
  const args = [
    ...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--daemonize', 'no', '--protected-mode', 'no', '--repl-ping-replica-period', '1',
    ...(opts.password ? ['--requirepass', opts.password, '--masterauth', opts.password] : []),
    ...(opts.replicaOf ? ['--replicaof', '127.0.0.1', String(opts.replicaOf)] : []),
    ...(opts.args ?? []),
  ];
  return started('redis', SERVER, args, port, dir, log, opts.timeoutMs ?? 10_000, opts.password, cliTls);
}

export interface RedisSet {
  primary: RedisHandle;
  replicas: RedisHandle[];
  stop(): Promise<void>;
}

/** ROLE of a server as redis-cli prints it: the first line is master, slave or sentinel. */
export async function redisRole(h: RedisHandle): Promise<string[]> {
  return (await h.cli('ROLE')).split('\n').map((l) => l.trim());
}

/** A primary and N replicas (default 2); resolves once every replica's link is up. */
export async function startRedisSet(opts: { replicas?: number; password?: string; timeoutMs?: number } = {}): Promise<RedisSet> {
  const primary = await startRedis(opts.password ? { password: opts.password } : {});
  const replicas: RedisHandle[] = [];
  const stop = async () => {
    await Promise.all([primary, ...replicas].map((h) => h.stop()));
  };
  try {
    for (let i = 0; i < (opts.replicas ?? 2); i++) replicas.push(await startRedis({ replicaOf: primary.port, ...(opts.password ? { password: opts.password } : {}) }));
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const roles = await Promise.all(replicas.map(redisRole));
      if (roles.every((r) => r[0] === 'slave' && r[3] === 'connected')) break;
      if (Date.now() > deadline) throw new LauncherError('TIMEOUT', `redis replicas did not connect within ${timeoutMs} ms: ${roles.map((r) => r.join(' ')).join('; ')}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { primary, replicas, stop };
}

export interface SentinelOptions {
  masterName: string;
  masterPort: number;
  /** down-after-milliseconds (default 1000). */
  downAfterMs?: number;
  /** failover-timeout (default 5000). */
  failoverTimeoutMs?: number;
  password?: string;
  /** The sentinel's own requirepass. */
  sentinelPassword?: string;
  timeoutMs?: number;
}

/** One redis-sentinel (quorum 1) monitoring 127.0.0.1:masterPort; its config file lives in its temp dir. */
export async function startSentinel(opts: SentinelOptions): Promise<RedisHandle> {
  const port = await freePort();
  const dir = tempDir('sentinel');
  const log = join(dir, 'sentinel.log');
  const conf = join(dir, 'sentinel.conf');
  const m = opts.masterName;
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'protected-mode no',
      `dir ${dir}`,
      `sentinel monitor ${m} 127.0.0.1 ${opts.masterPort} 1`,
      `sentinel down-after-milliseconds ${m} ${opts.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${m} ${opts.failoverTimeoutMs ?? 5000}`,
      `sentinel parallel-syncs ${m} 1`,
      ...(opts.password ? [`sentinel auth-pass ${m} ${opts.password}`] : []),
      ...(opts.sentinelPassword ? [`requirepass ${opts.sentinelPassword}`] : []),
      '',
    ].join('\n'),
  );
  return started('sentinel', SENTINEL, [conf], port, dir, log, opts.timeoutMs ?? 10_000, opts.sentinelPassword);
}
