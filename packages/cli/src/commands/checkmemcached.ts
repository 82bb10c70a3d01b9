// checkmemcached: keep haproxy/memcached/<tag> pointed at a live memcached.
import { Command } from 'commander';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { checkerFlags, collectList, failedProbes, hostPorts, parseCheckerFlags, parsePort, parseTag, runCheckers, servesEligible, type CheckerFlags } from '../checker-run.js';
import { runProgram } from '../program.js';
import { EXIT } from '../common.js';
import type { CommandIO } from '../common.js';

interface Flags extends CheckerFlags {
  server: string[];
  tag?: string;
  proxyport?: string;
}

function buildProgram(): Command {
  return checkerFlags(
    new Command('checkmemcached')
      .description('Probe memcached servers (set then get) and keep haproxy/memcached/<tag> on a live one; the others become HAProxy backups.')
      .option('--server <host:port[,host:port]>', 'memcached servers, in order of preference (repeatable)', collectList, [])
      .option('--tag <tag>', 'the entry name (default mem<port of the first server>)')
      .option('--proxyport <port>', 'HAProxy listen port (default: the first server\'s port + 5000)')
      .option('--verbose', 'log every probe'),
  );
}

/** Check the servers until stopped (or once). */
async function checkmemcached(cmd: Command, io: CommandIO): Promise<number> {
  const f = cmd.opts<Flags>();
  const consulNeeded = (f.backend ?? (f.file ? 'file' : 'consul')) === 'consul';
  if (f.server.length === 0 || (consulNeeded && !f.consul && !f.node && !process.env.CONSUL_HTTP_ADDR)) {
    io.stderr.write('checkmemcached: --server and --consul (or --backend file --file kv.json) are required\n');
    return EXIT.MEMCACHED_USAGE;
  }
  parseCheckerFlags(f);
  const servers = hostPorts(f.server, '--server');
  const tag = parseTag(f.tag ?? `mem${servers[0]!.port}`, 'memcached');
  const proxyport = parsePort(f.proxyport, '--proxyport');
  return runCheckers(f, io, () => ({
    bin: 'checkmemcached',
    tags: [{ tag, kind: memcachedKind({ tag, servers, ...(proxyport ? { proxyport } : {}) }) }],
    unhealthy: (r) => (servesEligible(r) ? undefined : `${tag}: ${r.entry?.host}:${r.entry?.port} is not healthy (${failedProbes(r).join('; ') || r.reason})`),
  }));
}

/** The checkmemcached command: argv (without node and the script) → exit code. */
export function main(argv: string[], io?: CommandIO): Promise<number> {
  return runProgram('checkmemcached', buildProgram(), checkmemcached, argv, io);
}
