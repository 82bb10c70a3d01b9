// `confd-haproxy migrate --confdir DIR`: reports how an existing confd layout fares here. With store
// flags each ready resource is rendered against the store into a temporary directory (its dest is
// never written); with --confd-bin, confd renders the same copy and the two outputs are compared.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { stringify as stringifyToml } from 'smol-toml';
import { openStore } from '@confd-haproxy/kv';
import { runOnce } from '@confd-haproxy/renderer';
import { mergedOpts, userSet } from '../argv.js';
import { EXIT, createLogger, UsageError } from '../common.js';
import { storeFlagValues, storeOptionsFromFlags } from '../store-flags.js';
import { firstDifference, migrateReport, reportText, resourceReady, type MigrateReport, type ResourceReport } from '../migrate-report.js';
import type { Session } from '../session.js';

/** migrate's flags; the store's (any spelling, see store-flags.ts) come with them. */
interface MigrateFlags {
  [storeFlag: string]: unknown;
  confdir?: string;
  prefix?: string;
  confdBin?: string;
  json?: boolean;
}

/** How long confd may take for one -onetime run. */
const CONFD_TIMEOUT_MS = 60_000;

/** The resource's stem: conf.d/haproxy.toml → haproxy. */
const stem = (r: ResourceReport) => r.resource.replace(/^conf\.d\//, '').replace(/\.toml$/, '');

/**
 * A copy of the layout under `dir` holding only `resources`, each dest in `dir/out/<stem>` and
 * without commands or owner, so rendering it runs and touches nothing of the host's.
 */
function sandbox(confdir: string, dir: string, resources: readonly ResourceReport[]): string {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'out'));
  cpSync(join(confdir, 'templates'), join(dir, 'templates'), { recursive: true });
  for (const r of resources) {
    const { check_cmd: _c, reload_cmd: _r, uid: _u, gid: _g, runtime_socket: _s, ...kept } = r.table!;
    writeFileSync(join(dir, 'conf.d', `${stem(r)}.toml`), stringifyToml({ template: { ...kept, dest: join(dir, 'out', stem(r)) } }));
  }
  return join(dir, 'out');
}

/** Render the sandbox here, once, writing only its own dests. */
async function renderHere(session: Session, flags: MigrateFlags, dir: string, resources: ResourceReport[]): Promise<void> {
  const out = sandbox(flags.confdir!, join(dir, 'here'), resources);
  const store = (session.store = openStore(storeOptionsFromFlags(storeFlagValues(flags))));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  const logger = createLogger({ level: 'fatal', stream: session.io.stderr });
  const pass = await runOnce({ store, confdir: join(dir, 'here'), prefix: flags.prefix ?? '', logger, signal: session.signals.stop, syncOnly: true, stateDir, env: process.env });
  for (const r of resources) {
    const result = pass.resources.find((p) => p.resource === `conf.d/${stem(r)}.toml`);
    if (result?.error) {
      const code = (result.error as { code?: unknown }).code;
      r.rendered = { ok: false, message: result.error.message, ...(typeof code === 'string' ? { code } : {}) };
    } else if (existsSync(join(out, stem(r)))) r.rendered = { ok: true, bytes: readFileSync(join(out, stem(r))).length };
    else r.rendered = { ok: false, message: 'rendered nothing here' };
  }
}

/** confd's flags for the same store: backend, nodes, YAML files, prefix. */
function confdStoreArgs(flags: MigrateFlags): string[] {
  const store = storeFlagValues(flags);
  const files = [store.file ?? []].flat() as string[];
  const backend = store.backend ?? (files.length ? 'file' : 'consul');
  return [
    '-backend',
    backend === 'etcd' ? 'etcdv3' : backend,
    ...([store.node ?? []].flat() as string[]).flatMap((n) => ['-node', n]),
    ...files.flatMap((f) => ['-file', f]),
    ...(flags.prefix ? ['-prefix', flags.prefix] : []),
  ];
}

/** Run confd -onetime on its own copy of the sandbox and compare each output with ours. */
async function compareWithConfd(flags: MigrateFlags, dir: string, resources: ResourceReport[]): Promise<void> {
  const confdDir = join(dir, 'confd');
  const out = sandbox(flags.confdir!, confdDir, resources);
  const args = ['-onetime', '-confdir', confdDir, '-config-file', join(confdDir, 'confd.toml'), '-log-level', 'error', ...confdStoreArgs(flags)];
  const stderr = await new Promise<string>((done) => {
    execFile(flags.confdBin!, args, { timeout: CONFD_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, _o, e) => done(err ? `${e || err.message}`.trim() : ''));
  });
  const here = join(dir, 'here', 'out');
  for (const r of resources.filter((x) => x.rendered?.ok)) {
    const theirsFile = join(out, stem(r));
    if (!existsSync(theirsFile)) {
      const why = stderr.split('\n').filter(Boolean).pop() ?? 'no output';
      r.confd = { identical: false, message: `confd rendered nothing (${why})` };
      continue;
    }
    const diff = firstDifference(readFileSync(join(here, stem(r)), 'utf8'), readFileSync(theirsFile, 'utf8'));
    r.confd = diff ? { identical: false, message: `differs from confd's output at ${diff}` } : { identical: true };
  }
}

/** `confd-haproxy migrate`: exit 0 when every resource is ready as is, 2 when something needs attention, 65 on unreadable input. */
export async function migrateCommand(session: Session, cmd: Command): Promise<number> {
  const flags = mergedOpts<MigrateFlags>(cmd);
  const withStore = ['backend', 'node', 'file'].some((k) => userSet(cmd, k));
  if (flags.confdBin && !withStore) throw new UsageError('--confd-bin: give the store too (--backend and --node or --file) for both to render against');
  const report: MigrateReport = migrateReport(flags.confdir ?? '/etc/confd');
  const renderable = report.resources.filter((r) => r.renderable);
  if (withStore && renderable.length) {
    const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-migrate-'));
    try {
      await renderHere(session, flags, dir, renderable);
      if (flags.confdBin) await compareWithConfd(flags, dir, renderable);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const ready = report.settings.length === 0 && report.resources.every(resourceReady);
  const shown = { ...report, ready, resources: report.resources.map(({ table: _t, renderable: _r, ...r }) => ({ ...r, ready: resourceReady(r) })) };
  session.io.stdout.write(flags.json ? `${JSON.stringify(shown, null, 2)}\n` : reportText(report));
  return ready ? EXIT.OK : EXIT.PENDING;
}
