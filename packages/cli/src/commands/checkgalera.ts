// checkgalera: pxcScheduler's rules for Galera clusters behind HAProxy; one entry per cluster,
// haproxy/galera/<cluster>. --maint / --unmaint put a node in or out of maintenance through the store.
import { Command } from 'commander';
import { GALERA_KIND, galeraKind, maintenancePrefix, readGaleraConfig, type Roles } from '@confd-haproxy/check-galera';
import { maintenanceKey } from '@confd-haproxy/schema';
import { CheckerError } from '@confd-haproxy/checker';
import { checkerFlags, collectRepeated, parseHostPort, parsePrefix, runCheckers, storeFromCheckerFlags, type CheckerFlags } from '../checker-run.js';
import { runProgram } from '../program.js';
import { EXIT, UsageError } from '../common.js';
import type { CommandIO } from '../common.js';

interface Flags extends CheckerFlags {
  config: string;
  cluster: string[];
  maint?: string;
  unmaint?: string;
  reason?: string;
}

function buildProgram(): Command {
  return checkerFlags(
    new Command('checkgalera')
      .description('Check Galera clusters with pxcScheduler\'s rules and keep haproxy/galera/<cluster> with the writer, the readers, and the drained and maintenance nodes.')
      .option('--config <file>', 'the clusters: [global] and one [cluster.<name>] section each (README: checkgalera)', 'etc/galera.toml')
      .option('--cluster <name>', 'check only this cluster (repeatable; default: every cluster of --config)', collectRepeated, [])
      .option('--maint <host:port>', 'put this node of --cluster in maintenance (HAProxy: disabled) and exit')
      .option('--unmaint <host:port>', 'take this node of --cluster out of maintenance and exit')
      .option('--reason <text>', 'with --maint: why, kept in the maintenance key', 'maintenance'),
  );
}

/** Check the clusters until stopped (or once), or with --maint / --unmaint set one key and exit. */
async function checkgalera(cmd: Command, io: CommandIO): Promise<number> {
  const f = cmd.opts<Flags>();
  const config = readGaleraConfig(f.config);
  const clustersOf = (c: typeof config) => {
    for (const name of f.cluster) if (!c.clusters.some((x) => x.name === name)) throw new CheckerError('CHECKER_CONFIG', `${f.config}: no [cluster.${name}] section (clusters: ${c.clusters.map((x) => x.name).join(', ')})`);
    return f.cluster.length ? c.clusters.filter((x) => f.cluster.includes(x.name)) : c.clusters;
  };
  let clusters: ReturnType<typeof clustersOf> | undefined = clustersOf(config);
  if (f.maint !== undefined || f.unmaint !== undefined) return setMaintenance(f, clusters, io);
  if (cmd.getOptionValueSource('interval') === 'default') f.interval = `${config.daemonInterval}ms`;
  if (cmd.getOptionValueSource('lockTtl') === 'default') f.lockTtl = `${config.lockClusterTimeout}s`;
  return runCheckers<Roles>(f, io, (store, logger) => ({
    bin: 'checkgalera',
    kind: GALERA_KIND,
    // The first plan uses the file read above; a SIGHUP reads it again (nodes and rules; --interval stays).
    tags: (clusters ?? clustersOf(readGaleraConfig(f.config))).map((cluster) => {
      const prefix = maintenancePrefix(cluster.name, parsePrefix(f.prefix));
      const open = () =>
        galeraKind({
          cluster,
          logger,
          maintenance: async (signal) => new Set((await store.list(prefix, { signal })).pairs.map((p) => p.key.slice(prefix.length))),
        });
      clusters = undefined;
      // pxcScheduler counts extra tries (0 = at once); the checker core counts checks.
      return { tag: cluster.name, open, retryUp: cluster.retryUp + 1, retryDown: cluster.retryDown + 1, timeoutMs: cluster.checkTimeOut };
    }),
    unhealthy: (r) => {
      const roles = r.choice?.detail;
      if (!roles || roles.problem) return `${r.tag}: ${roles?.problem ?? r.reason}`;
      const w = roles.writers[0];
      if (w && (w.host !== r.entry?.host || w.port !== r.entry?.port)) return `${r.tag}: the entry points at ${r.entry?.host}:${r.entry?.port}, the writer should be ${w.host}:${w.port} (${r.reason})`;
      return undefined;
    },
  }));
}

/** --maint / --unmaint: one key per node under haproxy/.maint/galera/<cluster>/. */
async function setMaintenance(f: Flags, clusters: { name: string; nodes: { host: string; port: number }[] }[], io: CommandIO): Promise<number> {
  if (clusters.length !== 1) throw new UsageError('--maint/--unmaint need exactly one --cluster');
  const cluster = clusters[0]!;
  const flag = f.maint !== undefined ? '--maint' : '--unmaint';
  const node = parseHostPort((f.maint ?? f.unmaint)!, flag);
  if (!cluster.nodes.some((n) => n.host === node.host && n.port === node.port)) {
    throw new UsageError(`${flag}: ${node.host}:${node.port} is not a node of cluster ${cluster.name} (${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(', ')})`);
  }
  const store = storeFromCheckerFlags(f);
  try {
    const key = maintenanceKey('galera', cluster.name, node, parsePrefix(f.prefix));
    if (f.maint !== undefined) await store.put(key, JSON.stringify({ reason: f.reason, since: new Date().toISOString() }));
    else await store.delete(key);
    io.stdout.write(`${cluster.name}: ${node.host}:${node.port} ${f.maint !== undefined ? 'is in maintenance' : 'is out of maintenance'} (${key})\n`);
    return EXIT.OK;
  } finally {
    await store.close().catch(() => {});
  }
}

/** The checkgalera command: argv (without node and the script) → exit code. */
export function main(argv: string[], io?: CommandIO): Promise<number> {
  return runProgram('checkgalera', buildProgram(), checkgalera, argv, io);
}
