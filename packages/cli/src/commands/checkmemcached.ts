// checkmemcached: keep haproxy/memcached/<tag> pointed at a live memcached.
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MEMCACHED_KIND, memcachedKind, saslError, type MemcachedChoiceDetail, type SaslCredentials } from '@confd-haproxy/check-memcached';
import { checkerFlags, collectList, failedProbes, hostPorts, parseCheckerFlags, parsePort, parseTag, runCheckers, servesEligible, type CheckerFlags } from '../checker-run.js';
import { runProgram } from '../program.js';
import { EXIT, UsageError, readFirstLine } from '../common.js';
import { storeFlagValues } from '../store-flags.js';
import type { CommandIO } from '../common.js';

interface Flags extends CheckerFlags {
  server: string[];
  tag?: string;
  proxyport?: string;
  saslUser?: string;
  saslPasswordFile?: string;
}

/** The systemd credential the SASL password is read from when no --sasl-password-file is given. */
export const SASL_PASSWORD_CREDENTIAL = 'memcached-sasl-password';

function buildProgram(): Command {
  return checkerFlags(
    new Command('checkmemcached')
      .description('Probe memcached servers (set then get) and keep haproxy/memcached/<tag> on a live one; the others become HAProxy backups.')
      .option('--server <host:port[,host:port]>', 'memcached servers, in order of preference (repeatable)', collectList, [])
      .option('--tag <tag>', 'the entry name (default mem<port of the first server>)')
      .option('--proxyport <port>', 'HAProxy listen port (default: the first server\'s port + 5000)')
      .option('--sasl-user <name>', 'log in with SASL (memcached -S): probes use the binary protocol through memjs')
      .option('--sasl-password-file <path>', `the SASL password, first line of this file (default: the systemd credential ${SASL_PASSWORD_CREDENTIAL})`)
      .option('--verbose', 'log every probe'),
  );
}

/** Where the SASL password comes from: --sasl-password-file, else the systemd credential. */
function passwordSource(f: Flags, env: NodeJS.ProcessEnv): { path: string; what: string } {
  if (f.saslPasswordFile) return { path: f.saslPasswordFile, what: '--sasl-password-file' };
  const credential = env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, SASL_PASSWORD_CREDENTIAL) : undefined;
  if (credential && existsSync(credential)) return { path: credential, what: `the systemd credential ${SASL_PASSWORD_CREDENTIAL}` };
  throw new UsageError(`--sasl-user needs --sasl-password-file <file> (or the systemd credential ${SASL_PASSWORD_CREDENTIAL})`);
}

/** The SASL login, or undefined without --sasl-user; the password is read from a file only, never from argv. */
function saslLogin(f: Flags, env: NodeJS.ProcessEnv): SaslCredentials | undefined {
  if (f.saslUser === '') throw new UsageError('--sasl-user: empty; give the SASL user name');
  if (!f.saslUser) {
    if (f.saslPasswordFile) throw new UsageError('--sasl-password-file needs --sasl-user');
    return undefined;
  }
  const { path, what } = passwordSource(f, env);
  const password = readFirstLine(path, what);
  if (!password) throw new UsageError(`${what}: ${path} is empty (the password is its first line)`);
  return { user: f.saslUser, password };
}

/** Check the servers until stopped (or once). */
async function checkmemcached(cmd: Command, io: CommandIO): Promise<number> {
  const f = cmd.opts<Flags>();
  const store = storeFlagValues(f);
  const consulNeeded = (store.backend ?? (store.file ? 'file' : 'consul')) === 'consul';
  if (f.server.length === 0 || (consulNeeded && !store.node && !process.env.CONSUL_HTTP_ADDR)) {
    io.stderr.write('checkmemcached: --server and --consul (or --backend file --file kv.json) are required\n');
    return EXIT.MEMCACHED_USAGE;
  }
  const { timeoutMs } = parseCheckerFlags(f);
  const servers = hostPorts(f.server, '--server');
  const tag = parseTag(f.tag ?? `mem${servers[0]!.port}`, 'memcached');
  const proxyport = parsePort(f.proxyport, '--proxyport');
  // Read before the store is touched (a missing file exits 64), and again on each SIGHUP (a rotated password).
  let sasl: SaslCredentials | undefined = saslLogin(f, process.env);
  const hint = sasl ? `check --sasl-user and the password in ${passwordSource(f, process.env).path}` : 'give --sasl-user and --sasl-password-file';
  return runCheckers<MemcachedChoiceDetail>(f, io, () => {
    const login = sasl ?? saslLogin(f, process.env);
    sasl = undefined;
    return {
      bin: 'checkmemcached',
      kind: MEMCACHED_KIND,
      tags: [{ tag, open: () => memcachedKind({ tag, servers, timeoutMs, ...(proxyport ? { proxyport } : {}), ...(login ? { sasl: login } : {}) }) }],
      unhealthy: (r) => (servesEligible(r) ? undefined : `${tag}: ${r.entry?.host}:${r.entry?.port} is not healthy (${failedProbes(r).join('; ') || r.reason})`),
      configProblem: (r) => saslError(tag, r.choice?.detail, { ...(login ? { user: login.user } : {}), hint }),
    };
  });
}

/** The checkmemcached command: argv (without node and the script) → exit code. */
export function main(argv: string[], io?: CommandIO): Promise<number> {
  return runProgram('checkmemcached', buildProgram(), checkmemcached, argv, io);
}
