// confd-haproxy: the renderer's bin. Parses confd's flags (one or two dashes), builds options,
// calls the renderer, and maps what happened to an exit code. Nothing else lives here.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { environmentProblem, fleetTable, generatePushKey, privateStateDir, pushConfig, readFleet, readSignKey, readTrustKey, runFleet, type BundleEvent, type LocalPolicy, type TrustedKey } from '@confd-haproxy/fleet';
import { DEFAULT_COMMAND_TIMEOUT, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_RENDER_MAX_SIZE, DEFAULT_RENDER_TIMEOUT, withFields } from '@confd-haproxy/base';
import { CONSUL_DEFAULT_ADDRESS, openStore, sleep, type KVStore } from '@confd-haproxy/kv';
import { planAll, runInterval, runOnce, runWatch, type PassResult, type RendererOptions } from '@confd-haproxy/renderer';
import { patternProblem } from '@confd-haproxy/resource';
import type { KeyObject } from 'node:crypto';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { mergedOpts, userSet } from '../argv.js';
import { hostPolicy } from '../host-policy.js';
import { parseArgv } from '../program.js';
import type { Session } from '../session.js';
import { trapSignals } from '../signals.js';
import { VERSION } from '../version.js';
import { CONFD_BACKENDS, CONFD_TOML_RENAMED, CONFD_TOML_SETTINGS, type SettingType } from '../confd-toml.js';
import { migrateCommand } from './migrate.js';
import { driveAndReport, instanceLabels, resumeRollout, rolloutOptions, type RolloutFlags } from '../rollout-flags.js';
import { readStatus, recordPass, statusPath, statusTable } from '../status.js';
import { EXIT, UsageError, createLogger, defaultStateDir, parseDuration, parseLogFormat, parseLogLevel, parseSize, processIO, type CommandIO } from '../common.js';
import { addStoreFlags, storeFlagValues, storeOptionsFromFlags } from '../store-flags.js';

/** The renderer's flags; the store's (any spelling, see store-flags.ts) come with them. */
interface Flags extends RolloutFlags {
  [storeFlag: string]: unknown;
  backend?: string;
  onetime?: boolean;
  watch?: boolean;
  interval?: string;
  prefix?: string;
  confdir?: string;
  configFile?: string;
  noop?: boolean;
  syncOnly?: boolean;
  keepStageFile?: boolean;
  logLevel?: string;
  logFormat?: string;
  wait?: string;
  commandTimeout?: string;
  renderTimeout?: string;
  renderMaxSize?: string;
  debug?: boolean;
  allowStale?: boolean;
  listen?: string;
  stateDir?: string;
  json?: boolean;
  configFromStore?: boolean;
  diffsBeforeSync?: string;
  statusTtl?: string;
  fleet?: boolean;
  waitConverged?: string;
  resetHold?: string;
  trustKey: string[];
  allowCommand: string[];
  allowDest: string[];
  commandEnv: string[];
  allowDirective: string[];
  allowEnv: string[];
  allowOwner: string[];
  signKey?: string;
  allowSecrets?: boolean;
  environment?: string;
  rollbackTo?: string;
  statsSocket?: string;
}

/** Repeatable, taken whole: a command or a path may hold a comma. */
const repeat = (v: string, prev: string[]) => [...prev, v];

function storeFlags(cmd: Command): Command {
  return addStoreFlags(cmd)
    .option('--prefix <prefix>', 'key prefix prepended to every resource\'s keys', '')
    .option('--confdir <dir>', 'directory holding conf.d/ and templates/', '/etc/confd')
    .option('--config-file <path>', 'confd-style TOML config file (flags override it)')
    .option('--log-level <level>', 'panic, fatal, error, warn (warning), info, debug or trace', 'info')
    .option('--log-format <format>', 'text or json', 'text')
    .option('--command-timeout <duration>', 'timeout of check_cmd and reload_cmd unless a resource sets its own', DEFAULT_COMMAND_TIMEOUT)
    .option('--render-timeout <duration>', 'how long one template may render; past it the render is stopped and that resource fails, its dest left as it was', DEFAULT_RENDER_TIMEOUT)
    .option('--render-max-size <size>', 'how large one rendered file may grow (e.g. 64MB; 1 MB = 1024 KB); past it the render fails likewise', DEFAULT_RENDER_MAX_SIZE)
    .option('--keep-stage-file', 'keep stage files for inspection')
    .option('--state-dir <dir>', 'where the status, the last good entries and the adopted bundles are kept, private to this user (default /var/lib/confd-haproxy as root, else $XDG_STATE_HOME/confd-haproxy or ~/.local/state/confd-haproxy)')
    .option('--listen <host:port>', 'serve /livez, /healthz, /readyz and /metrics (e.g. 127.0.0.1:9101)')
}

type Mode = 'run' | 'plan' | 'status' | 'push';
type Subcommand = Mode | 'keygen' | 'migrate';

/** What this renderer runs: bundles signed by a trusted key, commands and dests within the local policy. */
interface LocalTrust {
  trustKeys: TrustedKey[];
  policy: LocalPolicy;
}

export function buildProgram(run: (cmd: Command, name: Subcommand) => Promise<void>): Command {
  /** The action of subcommand `name`: commander calls it with the command as `this`. */
  const runAs = (name: Subcommand) =>
    async function (this: Command) {
      await run(this, name);
    };
  const program = storeFlags(new Command('confd-haproxy'))
    .version(VERSION, '--version', 'print the version and exit')
    .description('Render conf.d resources and Handlebars templates from a KV store into haproxy.cfg; check, swap, reload.')
    .option('--onetime', 'render once and exit (0 on success, non-zero on any error)')
    .option('--watch', 'watch the store (blocking queries) and conf.d/templates, render on change')
    .option('--interval <seconds>', 'poll the store every N seconds (default mode)', '600')
    .option('--wait <min[:max]>', 'after a change wait for min of quiet, but never longer than max, then render once', '200ms:2s')
    .option('--noop', 'render and print a diff against each dest; change nothing (exit 0 as confd; plan exits 2 when changes are pending)')
    .option('--sync-only', 'write dest files but skip check_cmd and reload_cmd')
    .option('--allow-stale', 'render data the store answered without a known leader (refused by default)')
    .option('--reset-hold <duration>', 'with --watch: after the store reset (index went backwards, most keys gone at once), render only once its data was stable this long; 0 renders at once', '500ms')
    .option('--config-from-store', 'take conf.d and templates from the bundle in the store (haproxy/.config/bundle), --confdir until one is adopted; implies --watch')
    .option('--diffs-before-sync <n>', 'with --config-from-store: reads of the same new bundle version before it is adopted', '3')
    .option('--status-ttl <duration>', 'with --config-from-store: TTL of the session behind haproxy/.status/<instance-id> (Consul: at least 10s)', '15s')
    .option('--trust-key <file>', 'with --config-from-store: adopt only bundles signed by this Ed25519 public key, each version above the last (repeatable, for key rotation)', repeat, [])
    .option('--environment <name>', 'with --config-from-store: adopt only bundles pushed for this environment (push --environment)')
    .option('--instance-label <key=value>', 'with --config-from-store: a label of this instance that push --canary key=value picks canaries by (repeatable)', repeat, [])
    .option('--stats-socket <path>', "with --config-from-store: HAProxy's stats socket, where a canary reads HAProxy's numbers before and after a rollout bundle (show stat)")
    .option('--allow-command <pattern>', 'every check_cmd and reload_cmd (of --confdir and of any bundle) must match one of these word for word ({{.src}}: the stage file; * and ? in a word match only letters, digits and _ @ % + = : , . / -); commands then run without a shell; repeatable', repeat, [])
    .option('--allow-dest <file>', 'every dest (of --confdir and of any bundle) must be one of these files, or lie under one of these directories written with a trailing / (e.g. /etc/haproxy/), checked again when it is written; repeatable', repeat, [])
    .option('--allow-directive <name>', "a rendered file may use this directive although it loads code or runs a program (lua-load, external-check, program, setenv, ...; the README lists them), which bundles may not by default, nor --confdir once an --allow-* flag is given; repeatable", repeat, [])
    .option('--allow-env <name>', "a bundle's templates (getenv) and the HAProxy configuration it renders (\"${NAME}\") may read this environment variable; repeatable", repeat, [])
    .option('--allow-owner <uid:gid>', 'a bundle may give its dests this owner besides the instance\'s own; repeatable', repeat, [])
    .option('--command-env <name>', 'a variable check_cmd and reload_cmd see besides PATH, HOME, LANG, LANGUAGE, LC_*, TZ, TMPDIR and HAPROXY_* (never the store credentials unless named here); repeatable', repeat, [])
    .addOption(new Option('--debug').hideHelp())
    .enablePositionalOptions()
    .action(runAs('run'));
  storeFlags(program.command('status'))
    .description('for each resource: its last render, check and reload, and whether dest differs from what the store holds now. Exit 0: in sync, 2: differs, 1: error')
    .option('--json', 'print JSON for scripts')
    .option('--fleet', 'every instance that publishes haproxy/.status/: its bundle version, checksums, and who is behind, diverged or failed since when. Exit 0: converged, 2: not')
    .option('--wait-converged <duration>', 'with --fleet: wait up to this long for the fleet to converge; exit 1 when it did not')
    .action(runAs('status'));
  storeFlags(program.command('push'))
    .description('push --confdir\'s conf.d and templates as the next bundle version (haproxy/.config/bundle, CAS); refused unless it loads and renders. Exit 0: pushed or unchanged, 65: refused, 1: error')
    .option('--sign-key <file>', 'sign the bundle with this Ed25519 private key (confd-haproxy keygen); instances with --trust-key adopt only signed bundles')
    .option('--allow-secrets', 'push files that look like they hold credentials (refused by default)')
    .option('--environment <name>', 'the environment the bundle is for (signed with it): instances adopt it only with the same --environment')
    .option('--rollback-to <version>', 'push the files of a bundle kept under --state-dir/bundles/ (an instance\'s adopted bundles) as the next version, instead of --confdir\'s')
    .option('--canary <n|ids|key=value>', 'a canary rollout: only these instances (the first n by id, instance ids, or those with --instance-label key=value) take the bundle, judge it on their HAProxy and revert by themselves if it fails; the others take it once it passed. Exit 0: promoted, 1: failed')
    .option('--judge <duration>', 'with --canary: how long after the change each instance reads HAProxy\'s numbers (default 60s)')
    .option('--judge-error-margin <percent>', 'with --canary: connection and response errors per session may rise by this many points (default 1)')
    .option('--judge-max-down <n>', 'with --canary: at most n servers may go DOWN (default: not judged; a backend left without a healthy server always fails)')
    .option('--judge-allow-gone <n>', 'with --canary: listens that may disappear (default 0)')
    .option('--waves <list>', 'with --canary: after the canaries, promote the others in waves, e.g. 10%,50%,100% (default 100%)')
    .option('--report-grace <duration>', 'with --canary or --resume: how long past --judge an instance may take to report (default 60s)')
    .option('--resume', 'drive the rollout of the bundle in the store on from its record (after a pusher stopped); signs with --sign-key')
    .action(runAs('push'));
  program
    .command('keygen')
    .description('write an Ed25519 key pair for signing bundles: DIR/push.key (mode 0600, for push --sign-key) and DIR/push.pub (for --trust-key). Exit 0: written, 65: a key exists already')
    .requiredOption('--out <dir>', 'directory for push.key and push.pub')
    .action(runAs('keygen'));
  storeFlags(program.command('plan'))
    .description('render and print a unified diff against each dest; change nothing. Exit 0: nothing to change, 2: changes pending, 1: error')
    .action(runAs('plan'));
  storeFlags(program.command('migrate'))
    .description("report how an existing confd layout (--confdir: confd.toml, conf.d, templates) fares here: per resource whether the Go engine takes its template, rendered against the store when one is given (dest never written), compared byte for byte with confd's own output with --confd-bin; and the settings and fields read differently. Exit 0: ready as is, 2: needs attention, 65: unreadable input")
    .option('--confd-bin <path>', 'a confd binary: render each resource with it too (-onetime, into a temporary directory) and compare')
    .option('--json', 'print JSON for scripts')
    .action(runAs('migrate'));
  return program;
}

const typeName = (v: unknown) => (Array.isArray(v) ? 'an array' : typeof v === 'object' && v !== null ? 'a table' : `a ${typeof v}`);

/** One setting checked against its type; the flag's value (a duration as a string). */
function settingValue(file: string, key: string, v: unknown, type: SettingType): unknown {
  const ok =
    type === 'strings' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : type === 'duration' ? typeof v === 'string' || (typeof v === 'number' && v >= 0) : typeof v === type;
  const want = type === 'strings' ? 'an array of strings' : type === 'duration' ? 'a duration (a number of seconds or a string such as "1m30s")' : `a ${type}`;
  if (!ok) throw new UsageError(`${file}: ${key} must be ${want}, not ${typeName(v)} (${JSON.stringify(v)})`);
  return typeof v === 'number' ? String(v) : v;
}

/** confd's confd.toml: values fill what the command line left at its default. */
function applyConfigFile(flags: Flags, cmd: Command): Flags {
  if (!flags.configFile) return flags;
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(readFileSync(flags.configFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`${flags.configFile}: ${(err as Error).message}`);
  }
  const out: Flags = { ...flags };
  for (const [given, v] of Object.entries(doc)) {
    // confd 0.17's own file works as it is: its spellings (log-level, sync-only), its backend names (etcdv3), its file list.
    const k = CONFD_TOML_RENAMED[given] ?? given;
    const setting = CONFD_TOML_SETTINGS[k] as [string, SettingType] | undefined;
    if (!setting) throw new UsageError(`${flags.configFile}: unknown setting "${given}"`);
    const [name, type] = setting;
    const confdValue = k === 'backend' && typeof v === 'string' ? (CONFD_BACKENDS[v] ?? v) : v;
    const value = settingValue(flags.configFile, given, confdValue, k === 'file' && Array.isArray(v) ? 'strings' : type);
    if (userSet(cmd, name)) continue;
    (out as unknown as Record<string, unknown>)[name] = value;
  }
  return out;
}

/** --render-timeout and --render-max-size: a limit of 0 would fail every render. */
function renderBudgetFlags(flags: Flags): { timeoutMs: number; maxBytes: number } {
  const timeoutMs = parseDuration(flags.renderTimeout ?? DEFAULT_RENDER_TIMEOUT, '--render-timeout', 's');
  const maxBytes = parseSize(flags.renderMaxSize ?? DEFAULT_RENDER_MAX_SIZE, '--render-max-size');
  if (timeoutMs <= 0) throw new UsageError('--render-timeout must be above 0');
  if (maxBytes <= 0) throw new UsageError('--render-max-size must be above 0');
  return { timeoutMs, maxBytes };
}

function parseWait(text: string): { minMs: number; maxMs: number } {
  const [min, max] = text.split(':');
  const minMs = parseDuration(min ?? '', '--wait', 's');
  const maxMs = max ? parseDuration(max, '--wait', 's') : Math.max(minMs * 10, minMs);
  if (maxMs < minMs) throw new UsageError(`--wait: max (${max}) is below min (${min})`);
  return { minMs, maxMs };
}

/** The flags of one configuration cycle: the command line, the config file, checked. */
interface Settings {
  flags: Flags;
  logger: Logger;
  intervalMs: number;
  /** Everything but the store and the signal. */
  base: Omit<RendererOptions, 'store' | 'signal'>;
  storeOpts: ReturnType<typeof storeOptionsFromFlags>;
  /** --trust-key files, read (run only; empty otherwise). */
  trustKeys: TrustedKey[];
  /** push --sign-key, read. */
  signKey?: KeyObject;
}

function readSettings(cmd: Command, mode: Mode, stderr: NodeJS.WritableStream): Settings {
  const flags = applyConfigFile(mergedOpts<Flags>(cmd), cmd);
  const logger = createLogger({ format: parseLogFormat(flags.logFormat ?? 'text'), level: flags.debug ? 'debug' : parseLogLevel(flags.logLevel ?? 'info'), stream: stderr });
  const modes = [flags.onetime, flags.watch].filter(Boolean).length;
  if (modes > 1) throw new UsageError('--onetime and --watch exclude each other');
  if (flags.configFromStore && (flags.onetime || flags.noop) && mode === 'run') throw new UsageError('--config-from-store runs as a watcher: it excludes --onetime and --noop (use plan/status)');
  const intervalMs = parseDuration(flags.interval ?? '600', '--interval', 's');
  if (intervalMs <= 0) throw new UsageError('--interval must be above 0');
  const trust = mode === 'run' ? localTrust(flags) : undefined;
  if (flags.environment !== undefined) environmentFlag(flags, mode);
  const signKey = mode === 'push' && flags.signKey ? readSignKey(flags.signKey) : undefined;
  const base = {
    confdir: flags.confdir ?? '/etc/confd',
    prefix: flags.prefix ?? '',
    logger,
    env: process.env,
    commandEnv: commandEnvNames(flags.commandEnv ?? []),
    commandTimeoutMs: parseDuration(flags.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT, '--command-timeout', 's'),
    renderBudget: renderBudgetFlags(flags),
    wait: parseWait(flags.wait ?? '200ms:2s'),
    noop: Boolean(flags.noop),
    syncOnly: Boolean(flags.syncOnly),
    keepStageFile: Boolean(flags.keepStageFile),
    allowStale: Boolean(flags.allowStale),
    stateDir: stateDirFlag(flags, mode),
    resetHoldMs: parseDuration(flags.resetHold ?? '500ms', '--reset-hold', 's'),
    // Always set: a SIGHUP that drops every --allow-* flag must drop the policy too (empty lists allow any).
    policy: trust?.policy ?? { allowCommands: [], allowDests: [] },
  };
  const storeOpts = storeOptionsFromFlags(storeFlagValues(flags));
  return { flags, logger, intervalMs, base, storeOpts, trustKeys: trust?.trustKeys ?? [], ...(signKey ? { signKey } : {}) };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The one line -onetime and plan end with: "3 resources: 1 changed, 2 in sync; 1 reload". */
export function summaryLine(pass: PassResult, planning: boolean): { msg: string; fields: Record<string, number> } {
  const failed = pass.resources.filter((r) => r.error).length + (pass.resources.length === 0 ? pass.errors.length : 0);
  const changed = pass.resources.filter((r) => r.changed && !r.error).length;
  const inSync = pass.resources.filter((r) => !r.changed && !r.error).length;
  const reloads = pass.reloads.filter((r) => r.ok).length;
  const parts = [`${changed} ${planning ? 'would change' : 'changed'}`, `${inSync} in sync`, ...(failed ? [`${failed} failed`] : [])];
  const msg = `${plural(pass.resources.length, 'resource')}: ${parts.join(', ')}${planning ? '' : `; ${plural(reloads, 'reload')}`}`;
  return { msg, fields: { resources: pass.resources.length, changed, inSync, failed, reloads } };
}

function logSummary(logger: Logger, pass: PassResult, planning: boolean): void {
  const { msg, fields } = summaryLine(pass, planning);
  logger.info({ summary: fields }, msg);
}

/** The renderer's options with the whole store: --config-from-store also writes and locks (its status). */
type StoreRendererOptions = RendererOptions & { store: KVStore };

/** Where a run writes; tests pass their own streams. */
/** What one invocation holds open; main closes it whatever happened. */
export type { Session } from '../session.js';

/** A subcommand opened: its settings, its store and the renderer's options. */
interface Opened {
  settings: Settings;
  store: KVStore;
  opts: StoreRendererOptions;
  onBundle?: (e: BundleEvent) => void;
}

/** Read the settings, open the store and, with --listen, serve the health and metrics endpoints. */
async function open(session: Session, cmd: Command, mode: Mode): Promise<Opened> {
  const settings = readSettings(cmd, mode, session.io.stderr);
  session.signals.setLogger(settings.logger);
  const store = (session.store = openStore(settings.storeOpts));
  const opts: StoreRendererOptions = { ...settings.base, store, signal: session.signals.stop, stdout: session.io.stdout };
  settings.logger.info(`backend ${store.describe}, confdir ${opts.confdir}`);
  if (!settings.flags.listen) return { settings, store, opts };
  // prom-client and the HTTP server load only for --listen.
  const [{ rendererMetrics }, { newRegistry, startObserver }] = await Promise.all([import('../metrics.js'), import('../observe.js')]);
  const registry = newRegistry();
  const m = rendererMetrics(registry, { staleAfterMs: settings.flags.watch ? 3 * 60_000 : 3 * settings.intervalMs + 60_000 });
  opts.onPass = m.onPass;
  opts.onWatch = m.onWatch;
  session.observer = await startObserver({ listen: settings.flags.listen, registry, health: m.health, ready: m.ready });
  settings.logger.info(`serving /livez, /healthz, /readyz and /metrics on ${settings.flags.listen}`);
  return { settings, store, opts, onBundle: m.onBundle };
}

/** The last pass a run saw, and whether it ended after a stop. */
type LastPass = { pass: PassResult; afterStop: boolean } | undefined;

/** Every pass is kept for the exit code and, when it changed files, recorded in the status file. */
function recordPasses(session: Session, o: Opened): () => LastPass {
  const statusFile = statusPath(o.opts.stateDir!, o.opts.confdir);
  let lastPass: LastPass;
  const previous = o.opts.onPass;
  o.opts.onPass = (p) => {
    previous?.(p);
    lastPass = { pass: p, afterStop: session.signals.stop.aborted };
    try {
      recordPass(statusFile, p);
    } catch (err) {
      withFields(o.settings.logger, { code: 'STATUS_WRITE_FAILED', err }).warn(`cannot write the status file ${statusFile}: ${(err as Error).message}`);
    }
  };
  return () => lastPass;
}

/** plan, and -noop: print the diffs, change nothing. plan exits 2 when changes are pending; -noop keeps confd's 0. */
async function planPass(session: Session, o: Opened, forPlan: boolean): Promise<number> {
  const plan = await planAll(o.opts);
  for (const r of plan.resources) if (r.diff) session.io.stdout.write(r.diff);
  logSummary(o.settings.logger, plan, true);
  if (!plan.ok) return plan.exitCode;
  return forPlan && plan.pending ? EXIT.PENDING : EXIT.OK;
}

/** `confd-haproxy plan`. */
export async function planCommand(session: Session, cmd: Command): Promise<number> {
  return planPass(session, await open(session, cmd, 'plan'), true);
}

/** `confd-haproxy` itself: -noop, -onetime, or a long run (interval, watch, or bundles from the store) until stopped. */
export async function runSubcommand(session: Session, cmd: Command): Promise<number> {
  const o = await open(session, cmd, 'run');
  if (o.settings.flags.noop) return planPass(session, o, false);
  const lastPass = recordPasses(session, o);
  if (o.settings.flags.onetime) {
    const pass = await runOnce(o.opts);
    logSummary(o.settings.logger, pass, false);
    return pass.ok ? EXIT.OK : pass.exitCode;
  }
  await longRun(session, cmd, o);
  const last = lastPass();
  return last?.afterStop && last.pass.reloads.some((r) => !r.ok) ? EXIT.FAILED : EXIT.OK;
}

/** Cycles until stopped: each SIGHUP ends one, the settings (trust keys and policy too) are read again, and a new cycle renders at once. */
async function longRun(session: Session, cmd: Command, o: Opened): Promise<void> {
  const { signals } = session;
  let { settings, store } = o;
  for (;;) {
    await runCycle(settings, { ...o.opts, ...settings.base, store, signal: signals.cycle() }, o.opts.stateDir!, o.onBundle);
    await store.close().catch(() => {});
    if (signals.stop.aborted) return;
    try {
      settings = readSettings(cmd, 'run', session.io.stderr);
      signals.setLogger(settings.logger);
    } catch (err) {
      withFields(o.settings.logger, { code: 'CONFIG_RELOAD_FAILED', err }).error(`SIGHUP: ${(err as Error).message}; keeping the previous configuration`);
    }
    store = session.store = openStore(settings.storeOpts);
    settings.logger.info(`re-read the configuration: backend ${store.describe}, confdir ${settings.base.confdir}; rendering now`);
  }
}

/** `confd-haproxy status`: each resource's last pass and whether dest is in sync; with --fleet, every instance. */
export async function statusCommand(session: Session, cmd: Command): Promise<number> {
  const { settings, store, opts } = await open(session, cmd, 'status');
  const { flags } = settings;
  if (flags.fleet || flags.waitConverged) return fleetStatus(session, store, flags);
  const plan = await planAll(opts);
  const recorded = readStatus(statusPath(opts.stateDir!, opts.confdir));
  const rows = plan.resources.map((r) => {
    const bad = plan.badEntries.filter((b) => b.resource === r.resource).map((b) => `${b.message} (${b.fallback})`);
    return {
      ...(recorded[r.resource] ?? { resource: r.resource, dest: r.dest }),
      inSync: r.error ? undefined : !r.changed,
      ...(r.error ? { error: r.error.message.split('\n')[0] } : {}),
      badEntries: bad,
    };
  });
  const isBadEntry = (e: Error) => plan.badEntries.some((b) => (e as { key?: string }).key === b.key && e.message === `${b.resource}: ${b.message}`);
  for (const e of plan.errors.filter((e) => !plan.resources.some((r) => r.error === e) && !isBadEntry(e))) rows.push({ resource: '-', dest: '-', inSync: undefined, error: e.message, badEntries: [] });
  session.io.stdout.write(flags.json ? `${JSON.stringify(rows, null, 2)}\n` : statusTable(rows));
  return rows.some((r) => r.error || r.badEntries.length) ? EXIT.FAILED : rows.some((r) => r.inSync === false) ? EXIT.PENDING : EXIT.OK;
}

/** `confd-haproxy push`: --confdir becomes the next bundle version. */
export async function pushCommand(session: Session, cmd: Command): Promise<number> {
  const { settings, store, opts } = await open(session, cmd, 'push');
  const { flags } = settings;
  const rollout = rolloutOptions(flags);
  const drive = { store, stdout: session.io.stdout, logger: settings.logger, signal: session.signals.stop, ...(settings.signKey ? { signKey: settings.signKey } : {}), ...(flags.reportGrace ? { reportGrace: flags.reportGrace } : {}) };
  if (flags.resume) return resumeRollout(drive);
  const r = await pushConfig({
    store,
    confdir: opts.confdir,
    stateDir: opts.stateDir!,
    logger: settings.logger,
    signal: session.signals.stop,
    env: process.env,
    commandEnv: opts.commandEnv ?? [],
    prefix: opts.prefix ?? '',
    commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    ...(opts.renderBudget ? { renderBudget: opts.renderBudget } : {}),
    allowSecrets: Boolean(settings.flags.allowSecrets),
    ...(settings.signKey ? { signKey: settings.signKey } : {}),
    ...(settings.flags.environment ? { environment: settings.flags.environment } : {}),
    ...(settings.flags.rollbackTo ? { rollbackTo: settings.flags.rollbackTo } : {}),
    ...(rollout ? { rollout } : {}),
  });
  const signed = r.bundle.signature ? `, signed by key ${r.bundle.signature.keyId.slice(0, 12)}` : ', unsigned';
  const what = r.changed ? `pushed version ${r.bundle.version}` : `unchanged: the store holds these files as version ${r.bundle.version}`;
  const from = r.rolledBackTo ? ` with the files of version ${r.rolledBackTo.version}` : '';
  const env = r.bundle.environment ? ` for environment ${r.bundle.environment}` : '';
  session.io.stdout.write(`${what}${from} (${r.bundle.checksum.slice(0, 12)})${env}${signed}${r.appliedHere ? ', applied on this instance first' : ''}\n`);
  return r.changed && r.bundle.rollout ? driveAndReport(drive, r.bundle) : EXIT.OK;
}

/** `confd-haproxy keygen`: an Ed25519 key pair for signing bundles. */
export async function keygenCommand(session: Session, cmd: Command): Promise<number> {
  const k = generatePushKey(cmd.opts<{ out: string }>().out);
  session.io.stdout.write(`wrote ${k.keyFile} (keep it secret) and ${k.pubFile} (key ${k.keyId.slice(0, 12)})\n`);
  return EXIT.OK;
}

const SUBCOMMANDS: Record<Subcommand, (session: Session, cmd: Command) => Promise<number>> = {
  run: runSubcommand,
  plan: planCommand,
  status: statusCommand,
  push: pushCommand,
  keygen: keygenCommand,
  migrate: migrateCommand,
};

/** The confd-haproxy command: argv (without node and the script) → exit code. Runs nothing on import. */
export async function main(argv: string[], io: CommandIO = processIO()): Promise<number> {
  const session: Session = { io, signals: trapSignals('confd-haproxy') };
  let code: number = EXIT.OK;
  const program = buildProgram(async (cmd, name) => {
    code = await SUBCOMMANDS[name](session, cmd);
  });
  try {
    return (await parseArgv('confd-haproxy', program, argv, io)) ?? code;
  } finally {
    await session.store?.close().catch(() => {});
    session.observer?.close();
    session.signals.dispose();
  }
}

/** --trust-key (only with --config-from-store), --allow-command, --allow-dest and the rest of the policy: read and checked at start and on SIGHUP. */
function localTrust(flags: Flags): LocalTrust {
  if (flags.trustKey.length && !flags.configFromStore) throw new UsageError('--trust-key applies to bundles: it needs --config-from-store');
  const empty = flags.allowCommand.find((p) => !p.trim());
  if (empty !== undefined) throw new UsageError('--allow-command: an empty pattern');
  const unreadable = flags.allowCommand.map(patternProblem).find(Boolean);
  if (unreadable) throw new UsageError(`--allow-command: ${unreadable}`);
  return { trustKeys: flags.trustKey.map(readTrustKey), policy: { allowCommands: flags.allowCommand, ...hostPolicy(flags) } };
}

/** --command-env: variable names, checked. */
function commandEnvNames(names: string[]): string[] {
  const bad = names.find((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
  if (bad !== undefined) throw new UsageError(`--command-env: "${bad}" is not a variable name`);
  return names;
}

/** --environment names bundles: a run takes it only with --config-from-store, push signs it. */
function environmentFlag(flags: Flags, mode: Mode): void {
  if (mode === 'run' && !flags.configFromStore) throw new UsageError('--environment applies to bundles: it needs --config-from-store (or push)');
  const problem = environmentProblem(flags.environment!);
  if (problem) throw new UsageError(`--environment "${flags.environment}": ${problem}`);
}

/** --state-dir (or the default), refused unless private to this user; made 0700 by the modes that write it. */
function stateDirFlag(flags: Flags, mode: Mode): string {
  const dir = flags.stateDir ?? defaultStateDir();
  privateStateDir(dir, { create: (mode === 'run' && !flags.noop) || mode === 'push' });
  return dir;
}

/** One configuration cycle of a long run: until SIGHUP or a stop. */
async function runCycle(settings: Settings, opts: StoreRendererOptions, stateDir: string, onBundle?: (e: BundleEvent) => void): Promise<void> {
  const { flags } = settings;
  if (flags.configFromStore) {
    const diffs = Number(flags.diffsBeforeSync ?? '3');
    if (!Number.isInteger(diffs) || diffs < 1) throw new UsageError(`--diffs-before-sync: "${flags.diffsBeforeSync}" is not a whole number ≥ 1`);
    const rolloutFlags = { labels: instanceLabels(flags), ...(flags.statsSocket ? { statsSocket: flags.statsSocket } : {}) };
    await runFleet({ ...opts, ...rolloutFlags, trustKeys: settings.trustKeys, ...(flags.environment ? { environment: flags.environment } : {}), stateDir, diffsBeforeSync: diffs, statusTtlMs: parseDuration(flags.statusTtl ?? '15s', '--status-ttl', 's'), ...(onBundle ? { onBundle } : {}) });
  } else if (flags.watch) await runWatch(opts);
  else await runInterval({ ...opts, intervalMs: settings.intervalMs });
}

/** status --fleet: the table (or JSON); with --wait-converged, poll until converged or the time is up. */
async function fleetStatus(session: Session, store: KVStore, flags: Flags): Promise<number> {
  const signal = session.signals.stop;
  const waitMs = flags.waitConverged ? parseDuration(flags.waitConverged, '--wait-converged', 's') : 0;
  const deadline = Date.now() + waitMs;
  let view = await readFleet(store, signal);
  while (!view.converged && Date.now() < deadline && !signal.aborted) {
    await sleep(Math.min(500, Math.max(0, deadline - Date.now())), signal).catch(() => {});
    view = await readFleet(store, signal);
  }
  session.io.stdout.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : fleetTable(view));
  if (view.converged) return EXIT.OK;
  if (waitMs > 0) {
    session.io.stderr.write(`confd-haproxy: the fleet did not converge within ${flags.waitConverged}\n`);
    return EXIT.FAILED;
  }
  return EXIT.PENDING;
}
