// checkmysqlslave: keep haproxy/mysqlslave/<tag> pointed at healthy replicas of each db.conf section.
import { Command } from 'commander';
import { allTags, MYSQL_KIND, mysqlKind, readDbConf, tagConfig } from '@confd-haproxy/check-mysql';
import { checkerFlags, collectRepeated, failedProbes, parseCheckerFlags, runCheckers, servesEligible, type CheckerFlags } from '../checker-run.js';
import { runProgram } from '../program.js';
import { CheckerError, type PassReport } from '@confd-haproxy/checker';
import { UsageError, parseDuration } from '../common.js';
import { withFields } from '@confd-haproxy/base';
import type { CommandIO } from '../common.js';

interface Flags extends CheckerFlags {
  conf: string;
  tag: string[];
  allTags?: boolean;
  maxLag: string;
  masterFallback: boolean;
}

function buildProgram(): Command {
  return checkerFlags(
    new Command('checkmysqlslave')
      .description('Check MySQL/MariaDB replicas of each db.conf section and keep haproxy/mysqlslave/<tag> on healthy ones (the master when none is).')
      .option('--conf <file>', 'INI file with one section per tag (host/port are the master)', 'etc/db.conf')
      .option('--tag <tag>', 'a section of --conf (repeatable)', collectRepeated, [])
      .option('--all-tags', 'check every section of --conf in this one process')
      .option('--max-lag <duration>', 'largest Seconds_Behind_Master still served', '30s')
      .option('--no-master-fallback', 'with no healthy replica keep the entry instead of pointing it at the master'),
  );
}

/** Check the tags' replicas until stopped (or once). */
async function checkmysqlslave(cmd: Command, io: CommandIO): Promise<number> {
  const f = cmd.opts<Flags>();
  if (f.tag.length === 0 && !f.allTags) throw new UsageError('--tag <tag> (repeatable) or --all-tags is required');
  const { timeoutMs } = parseCheckerFlags(f);
  const maxLag = parseDuration(f.maxLag, '--max-lag', 's') / 1000;
  const readConfigs = () => {
    const doc = readDbConf(f.conf);
    const tags = [...new Set(f.allTags ? allTags(doc) : f.tag)];
    if (tags.length === 0) throw new CheckerError('CHECKER_CONFIG', `${f.conf}: no sections, so no tags to check`);
    return tags.map((tag) => tagConfig(f.conf, doc, tag));
  };
  // db.conf is read and checked before anything else: a bad file exits 65 without touching the store.
  let configs: ReturnType<typeof readConfigs> | undefined = readConfigs();
  return runCheckers(f, io, (_store, logger) => {
    // Read again on SIGHUP (the first plan uses the file read above).
    const current = configs ?? readConfigs();
    configs = undefined;
    for (const w of current.flatMap((c) => c.warnings)) withFields(logger, { code: 'CONFIG_WARNING' }).warn(w);
    return {
      bin: 'checkmysqlslave',
      kind: MYSQL_KIND,
      tags: current.map((config) => ({ tag: config.tag, open: () => mysqlKind({ config, maxLag, timeoutMs, masterFallback: f.masterFallback, logger }) })),
      unhealthy: (r) => (servesEligible(r) ? undefined : `${r.tag}: no healthy replica; the entry points at ${r.entry?.host}:${r.entry?.port} (${describeFailures(r)})`),
    };
  });
}

/** "127.0.0.1:3307 SQL thread not running; 127.0.0.1:3308 timed out" for --once. */
function describeFailures(r: PassReport): string {
  const failed = failedProbes(r);
  return failed.length ? failed.join('; ') : r.results.length ? r.reason : 'no replica found on the master';
}

/** The checkmysqlslave command: argv (without node and the script) → exit code. */
export function main(argv: string[], io?: CommandIO): Promise<number> {
  return runProgram('checkmysqlslave', buildProgram(), checkmysqlslave, argv, io);
}
