#!/usr/bin/env node
// confd-haproxy: the renderer's bin. Parses confd's flags (one or two dashes), builds options,
// calls the renderer, and maps what happened to an exit code. Nothing else lives here.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { fleetTable, generatePushKey, pushConfig, readFleet, readSignKey, readTrustKey, runFleet, type LocalPolicy, type TrustedKey } from '@confd-haproxy/fleet';
import { DEFAULT_COMMAND_TIMEOUT, DEFAULT_COMMAND_TIMEOUT_MS } from '@confd-haproxy/base';
import { CONSUL_DEFAULT_ADDRESS, openStore, sleep, type KVStore } from '@confd-haproxy/kv';
import { planAll, runInterval, runOnce, runWatch, type PassResult, type RendererOptions } from '@confd-haproxy/renderer';
import type { KeyObject } from 'node:crypto';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { flagNames, mergedOpts, normalizeSingleDash, userSet } from './argv.js';
import { trapSignals } from './signals.js';
import { VERSION } from './version.js';
import { rendererMetrics } from './metrics.js';
import { defaultStateDir, readStatus, recordPass, statusPath, statusTable } from './status.js';
import { newRegistry, startObserver } from './observe.js';
import { EXIT, UsageError, createLogger, exitFor, parseDuration, parseLogFormat, parseLogLevel, storeOptionsFromFlags } from './common.js';

interface Flags {
  onetime?: boolean;
  watch?: boolean;
  interval?: string;
  backend?: string;
  node: string[];
  prefix?: string;
  confdir?: string;
  configFile?: string;
  noop?: boolean;
  syncOnly?: boolean;
  keepStageFile?: boolean;
  logLevel?: string;
  logFormat?: string;
  authToken?: string;
  tokenFile?: string;
  scheme?: string;
  clientCert?: string;
  clientKey?: string;
  clientCaKeys?: string;
  basicAuth?: boolean;
  username?: string;
  password?: string;
  etcdLayout?: string;
  file?: string;
  createFile?: boolean;
  wait?: string;
  commandTimeout?: string;
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
  signKey?: string;
  allowSecrets?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, ...v.split(',').filter(Boolean)];
/** Repeatable, taken whole: a command or a path may hold a comma. */
const repeat = (v: string, prev: string[]) => [...prev, v];

function storeFlags(cmd: Command): Command {
  return cmd
    .option('--backend <name>', 'store backend: consul, etcd or file', undefined)
    .option('--node <address>', `store address, repeatable (consul: host:port or scheme://host:port; default CONSUL_HTTP_ADDR or ${CONSUL_DEFAULT_ADDRESS})`, collect, [])
    .option('--file <path>', 'the file store (with --backend file); it must exist')
    .option('--create-file', 'with --file: start an empty store when the file does not exist')
    .option('--prefix <prefix>', 'key prefix prepended to every resource\'s keys', '')
    .option('--confdir <dir>', 'directory holding conf.d/ and templates/', '/etc/confd')
    .option('--config-file <path>', 'confd-style TOML config file (flags override it)')
    .option('--auth-token <token>', 'Consul ACL token (prefer CONSUL_HTTP_TOKEN or --token-file: argv is visible in ps)')
    .option('--token-file <path>', 'read the Consul ACL token from a file')
    .option('--scheme <scheme>', 'http or https for --node without a scheme')
    .option('--client-cert <path>', 'TLS client certificate')
    .option('--client-key <path>', 'TLS client key')
    .option('--client-ca-keys <path>', 'TLS CA certificate')
    .option('--basic-auth', 'etcd: authenticate with --username and --password (as confd)')
    .option('--username <name>', 'etcd user')
    .option('--password <password>', 'etcd password (argv is visible in ps: prefer password in --config-file)')
    .option('--etcd-layout <layout>', 'etcd keys: confd ("/haproxy/...", as confd reads them) or bare ("haproxy/...", releases before)')
    .option('--log-level <level>', 'panic, fatal, error, warn (warning), info, debug or trace', 'info')
    .option('--log-format <format>', 'text or json', 'text')
    .option('--command-timeout <duration>', 'timeout of check_cmd and reload_cmd unless a resource sets its own', DEFAULT_COMMAND_TIMEOUT)
    .option('--keep-stage-file', 'keep stage files for inspection')
    .option('--state-dir <dir>', `where the status of the last passes is kept (default ${defaultStateDir()})`)
    .option('--listen <host:port>', 'serve /livez, /healthz, /readyz and /metrics (e.g. 127.0.0.1:9101)')
}

type Mode = 'run' | 'plan' | 'status' | 'push';

/** What this renderer runs: bundles signed by a trusted key, commands and dests within the local policy. */
interface LocalTrust {
  trustKeys: TrustedKey[];
  policy: LocalPolicy;
}

export function buildProgram(run: (cmd: Command, mode: Mode) => Promise<number>): Command {
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
    .option('--trust-key <file>', 'with --config-from-store: adopt only bundles signed by this Ed25519 public key (repeatable, for key rotation)', repeat, [])
    .option('--allow-command <pattern>', 'every check_cmd and reload_cmd (of --confdir and of any bundle) must equal one of these or match it as a glob (* and ? never match a shell operator); repeatable', repeat, [])
    .option('--allow-dest <dir>', 'every dest (of --confdir and of any bundle) must lie under one of these directories, symlinks resolved; repeatable', repeat, [])
    .addOption(new Option('--debug').hideHelp())
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError()
    .action(async function (this: Command) {
      process.exitCode = await run(this, 'run');
    });
  storeFlags(program.command('status'))
    .description('for each resource: its last render, check and reload, and whether dest differs from what the store holds now. Exit 0: in sync, 2: differs, 1: error')
    .option('--json', 'print JSON for scripts')
    .option('--fleet', 'every instance that publishes haproxy/.status/: its bundle version, checksums, and who is behind, diverged or failed since when. Exit 0: converged, 2: not')
    .option('--wait-converged <duration>', 'with --fleet: wait up to this long for the fleet to converge; exit 1 when it did not')
    .exitOverride()
    .action(async function (this: Command) {
      process.exitCode = await run(this, 'status');
    });
  storeFlags(program.command('push'))
    .description('push --confdir\'s conf.d and templates as the next bundle version (haproxy/.config/bundle, CAS); refused unless it loads and renders. Exit 0: pushed or unchanged, 65: refused, 1: error')
    .option('--sign-key <file>', 'sign the bundle with this Ed25519 private key (confd-haproxy keygen); instances with --trust-key adopt only signed bundles')
    .option('--allow-secrets', 'push files that look like they hold credentials (refused by default)')
    .exitOverride()
    .action(async function (this: Command) {
      process.exitCode = await run(this, 'push');
    });
  program
    .command('keygen')
    .description('write an Ed25519 key pair for signing bundles: DIR/push.key (mode 0600, for push --sign-key) and DIR/push.pub (for --trust-key). Exit 0: written, 65: a key exists already')
    .requiredOption('--out <dir>', 'directory for push.key and push.pub')
    .exitOverride()
    .action(function (this: Command) {
      const k = generatePushKey(this.opts<{ out: string }>().out);
      process.stdout.write(`wrote ${k.keyFile} (keep it secret) and ${k.pubFile} (key ${k.keyId.slice(0, 12)})\n`);
      process.exitCode = EXIT.OK;
    });
  storeFlags(program.command('plan'))
    .description('render and print a unified diff against each dest; change nothing. Exit 0: nothing to change, 2: changes pending, 1: error')
    .exitOverride()
    .action(async function (this: Command) {
      process.exitCode = await run(this, 'plan');
    });
  return program;
}

/** What a confd.toml setting must hold: a duration may be a number of seconds or a string. */
type SettingType = 'string' | 'boolean' | 'duration' | 'strings';

const CONFIG_KEYS: Record<string, [keyof Flags, SettingType]> = {
  backend: ['backend', 'string'],
  confdir: ['confdir', 'string'],
  interval: ['interval', 'duration'],
  prefix: ['prefix', 'string'],
  log_level: ['logLevel', 'string'],
  noop: ['noop', 'boolean'],
  watch: ['watch', 'boolean'],
  onetime: ['onetime', 'boolean'],
  sync_only: ['syncOnly', 'boolean'],
  auth_token: ['authToken', 'string'],
  scheme: ['scheme', 'string'],
  client_cert: ['clientCert', 'string'],
  client_key: ['clientKey', 'string'],
  client_cakeys: ['clientCaKeys', 'string'],
  basic_auth: ['basicAuth', 'boolean'],
  username: ['username', 'string'],
  password: ['password', 'string'],
  file: ['file', 'string'],
  nodes: ['node', 'strings'],
};

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
  for (const [k, v] of Object.entries(doc)) {
    const setting = CONFIG_KEYS[k];
    if (!setting) throw new UsageError(`${flags.configFile}: unknown setting "${k}"`);
    const [name, type] = setting;
    const value = settingValue(flags.configFile, k, v, type);
    if (userSet(cmd, name)) continue;
    (out as unknown as Record<string, unknown>)[name] = value;
  }
  return out;
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

function readSettings(cmd: Command, mode: Mode): Settings {
  const flags = applyConfigFile(mergedOpts<Flags>(cmd), cmd);
  const logger = createLogger({ format: parseLogFormat(flags.logFormat ?? 'text'), level: flags.debug ? 'debug' : parseLogLevel(flags.logLevel ?? 'info'), stream: process.stderr });
  const modes = [flags.onetime, flags.watch].filter(Boolean).length;
  if (modes > 1) throw new UsageError('--onetime and --watch exclude each other');
  if (flags.configFromStore && (flags.onetime || flags.noop) && mode === 'run') throw new UsageError('--config-from-store runs as a watcher: it excludes --onetime and --noop (use plan/status)');
  const intervalMs = parseDuration(flags.interval ?? '600', '--interval', 's');
  if (intervalMs <= 0) throw new UsageError('--interval must be above 0');
  const trust = mode === 'run' ? localTrust(flags) : undefined;
  const signKey = mode === 'push' && flags.signKey ? readSignKey(flags.signKey) : undefined;
  const base = {
    confdir: flags.confdir ?? '/etc/confd',
    prefix: flags.prefix ?? '',
    logger,
    env: process.env,
    commandTimeoutMs: parseDuration(flags.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT, '--command-timeout', 's'),
    wait: parseWait(flags.wait ?? '200ms:2s'),
    noop: Boolean(flags.noop),
    syncOnly: Boolean(flags.syncOnly),
    keepStageFile: Boolean(flags.keepStageFile),
    allowStale: Boolean(flags.allowStale),
    stateDir: flags.stateDir ?? defaultStateDir(),
    resetHoldMs: parseDuration(flags.resetHold ?? '500ms', '--reset-hold', 's'),
    // Always set: a SIGHUP that drops every --allow-* flag must drop the policy too (empty lists allow any).
    policy: trust?.policy ?? { allowCommands: [], allowDests: [] },
  };
  const storeOpts = storeOptionsFromFlags({
    ...(flags.backend ? { backend: flags.backend } : {}),
    node: flags.node,
    ...(flags.file ? { file: flags.file } : {}),
    ...(flags.createFile ? { createFile: true } : {}),
    ...(flags.authToken ? { token: flags.authToken } : {}),
    ...(flags.tokenFile ? { tokenFile: flags.tokenFile } : {}),
    ...(flags.scheme ? { scheme: flags.scheme } : {}),
    ...(flags.clientCert ? { clientCert: flags.clientCert } : {}),
    ...(flags.clientKey ? { clientKey: flags.clientKey } : {}),
    ...(flags.clientCaKeys ? { clientCaKeys: flags.clientCaKeys } : {}),
    ...(flags.basicAuth ? { basicAuth: true } : {}),
    ...(flags.username ? { username: flags.username } : {}),
    ...(flags.password ? { password: flags.password } : {}),
    ...(flags.etcdLayout ? { etcdLayout: flags.etcdLayout } : {}),
  });
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

async function main(argv: string[]): Promise<number> {
  let program!: Command;
  let store: KVStore | undefined;
  let observer: Server | undefined;
  const signals = trapSignals('confd-haproxy');

  const run = async (cmd: Command, mode: Mode): Promise<number> => {
    let settings = readSettings(cmd, mode);
    const { flags, logger } = settings;
    signals.setLogger(logger);
    store = openStore(settings.storeOpts);
    const opts: StoreRendererOptions = { ...settings.base, store, signal: signals.stop };
    logger.info(`backend ${store.describe}, confdir ${opts.confdir}`);
    let onBundle: ((e: { version: number; adopted: boolean; reason?: string; refusal?: string }) => void) | undefined;
    if (flags.listen) {
      const registry = newRegistry();
      const m = rendererMetrics(registry, { staleAfterMs: flags.watch ? 3 * 60_000 : 3 * settings.intervalMs + 60_000 });
      opts.onPass = m.onPass;
      opts.onWatch = m.onWatch;
      onBundle = m.onBundle;
      observer = await startObserver({ listen: flags.listen, registry, health: m.health, ready: m.ready });
      logger.info(`serving /livez, /healthz, /readyz and /metrics on ${flags.listen}`);
    }
    const stateDir = opts.stateDir!;
    if (mode === 'status' && (flags.fleet || flags.waitConverged)) return fleetStatus(store, flags, signals.stop);
    if (mode === 'push') {
      const r = await pushConfig({
        store,
        confdir: opts.confdir,
        stateDir,
        logger,
        signal: signals.stop,
        env: process.env,
        prefix: opts.prefix ?? '',
        commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
        allowSecrets: Boolean(flags.allowSecrets),
        ...(settings.signKey ? { signKey: settings.signKey } : {}),
      });
      const signed = r.bundle.signature ? `, signed by key ${r.bundle.signature.keyId.slice(0, 12)}` : ', unsigned';
      const what = r.changed ? `pushed version ${r.bundle.version}` : `unchanged: the store holds these files as version ${r.bundle.version}`;
      process.stdout.write(`${what} (${r.bundle.checksum.slice(0, 12)})${signed}${r.appliedHere ? ', applied on this instance first' : ''}\n`);
      return EXIT.OK;
    }
    const statusFile = statusPath(stateDir, opts.confdir);
    if (mode === 'status') {
      const plan = await planAll(opts);
      const recorded = readStatus(statusFile);
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
      process.stdout.write(flags.json ? `${JSON.stringify(rows, null, 2)}\n` : statusTable(rows));
      return rows.some((r) => r.error || r.badEntries.length) ? EXIT.FAILED : rows.some((r) => r.inSync === false) ? EXIT.PENDING : EXIT.OK;
    }
    // Every pass is recorded; a pass that ended after a stop decides the exit code.
    let lastPass: { pass: PassResult; afterStop: boolean } | undefined;
    const previous = opts.onPass;
    opts.onPass = (p) => {
      previous?.(p);
      lastPass = { pass: p, afterStop: signals.stop.aborted };
      if (mode !== 'run' || flags.noop) return;
      try {
        recordPass(statusFile, p);
      } catch (err) {
        logger.warn(`cannot write the status file ${statusFile}: ${(err as Error).message}`);
      }
    };
    if (mode === 'plan' || flags.noop) {
      const plan = await planAll(opts);
      for (const r of plan.resources) if (r.diff) process.stdout.write(r.diff);
      logSummary(logger, plan, true);
      // plan: 0 in sync, 2 changes pending (for CI); -noop keeps confd's 0 so `confd -onetime -noop && …` works.
      if (!plan.ok) return plan.exitCode;
      return mode === 'plan' && plan.pending ? EXIT.PENDING : EXIT.OK;
    }
    if (flags.onetime) {
      const pass = await runOnce(opts);
      logSummary(logger, pass, false);
      return pass.ok ? EXIT.OK : pass.exitCode;
    }
    // A long run: each SIGHUP ends a cycle, the settings (trust keys and policy too) are read again, and a new cycle renders at once.
    for (;;) {
      await runCycle(settings, { ...opts, ...settings.base, store, signal: signals.cycle() }, stateDir, onBundle);
      await store.close().catch(() => {});
      if (signals.stop.aborted) break;
      try {
        settings = readSettings(cmd, mode);
        signals.setLogger(settings.logger);
      } catch (err) {
        logger.error(`SIGHUP: ${(err as Error).message}; keeping the previous configuration`);
      }
      store = openStore(settings.storeOpts);
      settings.logger.info(`re-read the configuration: backend ${store.describe}, confdir ${settings.base.confdir}; rendering now`);
    }
    const failedReload = lastPass?.afterStop && lastPass.pass.reloads.some((r) => !r.ok);
    return failedReload ? EXIT.FAILED : EXIT.OK;
  };

  program = buildProgram(run);
  const { longNames, booleans } = flagNames(program);
  try {
    await program.parseAsync(normalizeSingleDash(argv, longNames, booleans), { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    return exitFor('confd-haproxy', err);
  } finally {
    await store?.close().catch(() => {});
    observer?.close();
    signals.dispose();
  }
}

/** --trust-key (only with --config-from-store), --allow-command, --allow-dest: read and checked at start and on SIGHUP. */
function localTrust(flags: Flags): LocalTrust {
  if (flags.trustKey.length && !flags.configFromStore) throw new UsageError('--trust-key applies to bundles: it needs --config-from-store');
  const empty = flags.allowCommand.find((p) => !p.trim());
  if (empty !== undefined) throw new UsageError('--allow-command: an empty pattern');
  const relativeDir = flags.allowDest.find((d) => !d.startsWith('/'));
  if (relativeDir !== undefined) throw new UsageError(`--allow-dest: "${relativeDir}" is not an absolute directory`);
  return { trustKeys: flags.trustKey.map(readTrustKey), policy: { allowCommands: flags.allowCommand, allowDests: flags.allowDest } };
}

/** One configuration cycle of a long run: until SIGHUP or a stop. */
async function runCycle(settings: Settings, opts: StoreRendererOptions, stateDir: string, onBundle?: (e: { version: number; adopted: boolean; reason?: string; refusal?: string }) => void): Promise<void> {
  const { flags } = settings;
  if (flags.configFromStore) {
    const diffs = Number(flags.diffsBeforeSync ?? '3');
    if (!Number.isInteger(diffs) || diffs < 1) throw new UsageError(`--diffs-before-sync: "${flags.diffsBeforeSync}" is not a whole number ≥ 1`);
    await runFleet({ ...opts, trustKeys: settings.trustKeys, stateDir, diffsBeforeSync: diffs, statusTtlMs: parseDuration(flags.statusTtl ?? '15s', '--status-ttl', 's'), ...(onBundle ? { onBundle } : {}) });
  } else if (flags.watch) await runWatch(opts);
  else await runInterval({ ...opts, intervalMs: settings.intervalMs });
}

/** status --fleet: the table (or JSON); with --wait-converged, poll until converged or the time is up. */
async function fleetStatus(store: KVStore, flags: Flags, signal: AbortSignal): Promise<number> {
  const waitMs = flags.waitConverged ? parseDuration(flags.waitConverged, '--wait-converged', 's') : 0;
  const deadline = Date.now() + waitMs;
  let view = await readFleet(store, signal);
  while (!view.converged && Date.now() < deadline && !signal.aborted) {
    await sleep(Math.min(500, Math.max(0, deadline - Date.now())), signal).catch(() => {});
    view = await readFleet(store, signal);
  }
  process.stdout.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : fleetTable(view));
  if (view.converged) return EXIT.OK;
  if (waitMs > 0) {
    process.stderr.write(`confd-haproxy: the fleet did not converge within ${flags.waitConverged}\n`);
    return EXIT.FAILED;
  }
  return EXIT.PENDING;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
