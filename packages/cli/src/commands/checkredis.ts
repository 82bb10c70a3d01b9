// checkredis: keep haproxy/redis/<tag> on the current Redis master (ROLE, or Sentinel checked by ROLE).
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { proxyportProblem, REDIS_KIND, redisKind, REDIS_PROXYPORT_OFFSET, type MasterChoice, type RedisTls } from '@confd-haproxy/check-redis';
import { checkerFlags, collectList, hostPorts, parsePort, parseTag, runCheckers, type CheckerFlags } from '../checker-run.js';
import { runProgram } from '../program.js';
import { UsageError, readFirstLine } from '../common.js';
import type { CommandIO } from '../common.js';

interface Flags extends CheckerFlags {
  server: string[];
  sentinel: string[];
  masterName?: string;
  tag?: string;
  proxyport?: string;
  replicasAsBackup?: boolean;
  user?: string;
  passwordFile?: string;
  sentinelPasswordFile?: string;
  tls?: boolean;
  cacert?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

function buildProgram(): Command {
  return checkerFlags(
    new Command('checkredis')
      .description('Ask Redis servers ROLE (or Redis Sentinel, cross-checked with ROLE) and keep haproxy/redis/<tag> on the current master; two masters at once keep the entry where it is.')
      .option('--server <host:port[,host:port]>', 'Redis servers, master and replicas (repeatable)', collectList, [])
      .option('--sentinel <host:port[,host:port]>', 'Redis Sentinels to ask for the master (repeatable)', collectList, [])
      .option('--master-name <name>', 'the name the sentinels monitor (default: the tag)')
      .option('--tag <tag>', 'the entry name (default: redis<port of the first server>, or the master name)')
      .option('--proxyport <port>', `HAProxy listen port (default: the first server's port + ${REDIS_PROXYPORT_OFFSET})`)
      .option('--replicas-as-backup', 'render the other servers as HAProxy backups (off: only the master serves)')
      .option('--user <name>', 'Redis ACL user for AUTH')
      .option('--password-file <path>', 'the Redis password, first line of this file (default: REDISCLI_AUTH)')
      .option('--sentinel-password-file <path>', 'the sentinels\' own password (their requirepass), first line of this file')
      .option('--tls', 'speak TLS to the servers and sentinels (their tls-port), verifying their certificate')
      .option('--cacert <file>', 'CA certificate the servers\' certificates are verified with (implies --tls; default: the system\'s CAs)')
      .option('--cert <file>', 'client certificate, for tls-auth-clients (implies --tls; with --key)')
      .option('--key <file>', 'the client certificate\'s key')
      .option('--insecure', 'with --tls: do not verify the servers\' certificates (testing only)'),
  );
}

/** Follow the master until stopped (or once). */
async function checkredis(cmd: Command, io: CommandIO): Promise<number> {
  const f = cmd.opts<Flags>();
  const servers = hostPorts(f.server, '--server');
  const sentinels = hostPorts(f.sentinel, '--sentinel');
  if (servers.length === 0 && sentinels.length === 0) throw new UsageError('--server or --sentinel (host:port, repeatable) is required');
  const named = f.tag ?? f.masterName ?? (servers[0] ? `redis${servers[0].port}` : undefined);
  if (!named) throw new UsageError('--tag or --master-name is required with --sentinel alone');
  const tag = parseTag(named, 'redis');
  let proxyport = parsePort(f.proxyport, '--proxyport');
  if (proxyport === undefined && servers.length === 0) throw new UsageError('--proxyport is required with --sentinel alone (the listen must not move with the master)');
  proxyport ??= servers[0]!.port + REDIS_PROXYPORT_OFFSET;
  const problem = proxyportProblem(proxyport, servers, sentinels);
  if (problem) throw new UsageError(`--proxyport: ${problem}; choose another with --proxyport`);
  const readPasswords = () => ({
    password: f.passwordFile ? readFirstLine(f.passwordFile, '--password-file') : process.env.REDISCLI_AUTH,
    sentinelPassword: f.sentinelPasswordFile ? readFirstLine(f.sentinelPasswordFile, '--sentinel-password-file') : undefined,
  });
  // Read before the store is touched (a missing file exits 64), and again on each SIGHUP (a rotated password).
  let passwords: ReturnType<typeof readPasswords> | undefined = readPasswords();
  const tls = redisTls(f);
  return runCheckers<MasterChoice>(f, io, (_store, logger) => {
    const { password, sentinelPassword } = passwords ?? readPasswords();
    passwords = undefined;
    const open = () =>
      redisKind({
        tag,
        servers,
        sentinels,
        proxyport,
        logger,
        ...(f.masterName ? { masterName: f.masterName } : {}),
        ...(f.replicasAsBackup ? { replicasAsBackup: true } : {}),
        ...(password ? { password } : {}),
        ...(sentinelPassword ? { sentinelPassword } : {}),
        ...(f.user ? { user: f.user } : {}),
        ...(tls ? { tls } : {}),
      });
    return {
      bin: 'checkredis',
      kind: REDIS_KIND,
      tags: [{ tag, open }],
      unhealthy: (r) => {
        const c = r.choice?.detail;
        if (c?.master && r.entry?.host === c.master.host && r.entry.port === c.master.port) return undefined;
        return `${tag}: the entry points at ${r.entry?.host}:${r.entry?.port}; ${c?.problem ?? r.reason}`;
      },
    };
  });
}

/** redis-cli's TLS flags: any certificate file implies --tls; --insecure alone is refused, not ignored. */
function redisTls(f: Flags): RedisTls | undefined {
  const on = Boolean(f.tls || f.cacert || f.cert || f.key);
  if (!on) {
    if (f.insecure) throw new UsageError('--insecure: only with --tls');
    return undefined;
  }
  if (Boolean(f.cert) !== Boolean(f.key)) throw new UsageError('--cert and --key go together');
  return {
    ...(f.cacert ? { ca: readPem(f.cacert, '--cacert') } : {}),
    ...(f.cert ? { cert: readPem(f.cert, '--cert') } : {}),
    ...(f.key ? { key: readPem(f.key, '--key') } : {}),
    verify: !f.insecure,
  };
}

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path} (${(err as Error).message})`);
  }
}

/** The checkredis command: argv (without node and the script) → exit code. */
export function main(argv: string[], io?: CommandIO): Promise<number> {
  return runProgram('checkredis', buildProgram(), checkredis, argv, io);
}
