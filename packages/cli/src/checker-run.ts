// What the checker bins share: the common flags, one TagChecker per tag, the local lock per tag,
// graceful shutdown and --once for cron.
import { Command } from 'commander';
import { homedir, hostname } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { DEFAULT_HEARTBEAT_BUDGET, DEFAULT_HEARTBEAT_MS, heartbeatPeriod, Membership, runSharedTagCheckers, runTagCheckers, takeLocalLock, TagChecker, type CheckerKind, type LocalLock, type PassReport, type Target } from '@confd-haproxy/checker';
import { entryKey, locksPrefix, prefixProblem, trimPrefix, TAG_PATTERN } from '@confd-haproxy/schema';
import { isYamlFile, openStore, withFields, type KVStore } from '@confd-haproxy/kv';
import { exitCodeOfAll, type ConfdError } from '@confd-haproxy/base';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { EXIT, UsageError, createLogger, parseDuration, parseLogFormat, parseLogLevel, defaultStateDir, type CommandIO, type StateDirUser } from './common.js';
import { addStoreFlags, storeFlagValues, storeOptionsFromFlags } from './store-flags.js';
import { trapSignals } from './signals.js';
import { VERSION } from './version.js';

/** The checker flags; the store flags (any spelling, see store-flags.ts) come with them. */
export interface CheckerFlags extends Record<string, unknown> {
  prefix?: string;
  interval: string;
  timeout: string;
  heartbeat: string;
  heartbeatBudget: string;
  retryUp: string;
  retryDown: string;
  once?: boolean;
  logFormat: string;
  logLevel: string;
  lockDir?: string;
  lockTtl: string;
  debug?: boolean;
  verbose?: boolean;
  listen?: string;
  /** --no-share-tags sets it false: every process checks every tag, the lock holder writes (as before). */
  shareTags?: boolean;
  /** The bin's name for messages (set by runCheckers' caller or taken from argv). */
  bin?: string;
}

/**
 * Root: /run/confd-haproxy. Anyone else: a directory of their own ($XDG_RUNTIME_DIR, else under
 * their state dir), never a shared temporary path another local user could fill with lock files.
 */
export function defaultLockDir(who: StateDirUser = { uid: process.getuid?.(), env: process.env, home: homedir }): string {
  if (who.uid === 0) return '/run/confd-haproxy';
  const runtime = who.env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) return join(runtime, 'confd-haproxy');
  return join(defaultStateDir(who), 'locks');
}

export function checkerFlags(cmd: Command): Command {
  return addStoreFlags(cmd)
    .version(VERSION, '--version', 'print the version and exit')
    .option('--prefix <prefix>', 'write under <prefix>/haproxy/... (the renderer\'s --prefix), for several environments in one store')
    .option('--interval <duration>', 'time between passes', '1s')
    .option('--timeout <duration>', 'deadline of a probe (connect and query) and of a heartbeat; keep it well under --interval, and above the slowest answer a live server gives', '500ms')
    .option('--heartbeat <duration>', 'between passes, ask the active server a cheap question (memcached version, Redis PING, MySQL ping) this often, with --timeout as its deadline: a hung server is found within heartbeat + timeout; 0 turns it off', `${DEFAULT_HEARTBEAT_MS}ms`)
    .option('--heartbeat-budget <n>', 'heartbeats a second this process sends at most: with many tags each one beats less often (0: no limit)', String(DEFAULT_HEARTBEAT_BUDGET))
    .option('--retry-up <n>', 'successes before a recovered server is eligible again', '2')
    .option('--retry-down <n>', 'failures before moving away from a server', '1')
    .option('--once', 'one pass (for cron): exit 0 when healthy, 1 with the reason otherwise')
    .option('--log-format <format>', 'text (the original style) or json', 'text')
    .option('--log-level <level>', 'panic, fatal, error, warn (warning), info, debug or trace', 'info')
    .option('--lock-dir <dir>', `directory of the per-tag lock files (default ${defaultLockDir()})`)
    .option('--lock-ttl <duration>', 'session TTL of the cluster-wide lock per tag and of the checker\'s member key (Consul: at least 10s); the other checkers take over about this long after one died', '10s')
    .option('--no-share-tags', 'check every tag here, a standby for the other checkers, instead of sharing the tags with the live checkers of this kind (README: Many checker hosts)')
    .option('--listen <host:port>', 'serve /livez, /healthz, /readyz and /metrics (e.g. 127.0.0.1:9102)')
    .option('--debug', 'log every probe');
}

/** "host:port" or "[v6]:port" from a flag value. */
export function parseHostPort(s: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(s.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`${flag}: "${s}" is not host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** --tag checked as the key segment it becomes (haproxy/<kind>/<tag>). */
export function parseTag(tag: string, kind: string): string {
  if (!TAG_PATTERN.test(tag)) throw new UsageError(`--tag: "${tag}" is not a usable tag (letters, digits, _ . -; it becomes the key ${entryKey(kind, '<tag>')})`);
  return tag;
}

/** Collects a repeatable, comma-separated host:port flag. */
export const collectList = (v: string, prev: string[]) => [...prev, ...v.split(',').filter(Boolean)];

/** Collects a repeatable flag, one value each time (--tag a --tag b). */
export const collectRepeated = (v: string, prev: string[]) => [...prev, v];

/** A port flag (--proxyport), or undefined when not given. */
export function parsePort(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new UsageError(`${flag}: "${text}" is not a port`);
  return port;
}

/** host:port values without duplicates, in the order given. */
export function hostPorts(values: string[], flag: string): { host: string; port: number }[] {
  const all = values.map((v) => parseHostPort(v, flag));
  return all.filter((t, i) => all.findIndex((x) => x.host === t.host && x.port === t.port) === i);
}

const wholeNumber = (v: string, flag: string) => {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: "${v}" is not a whole number`);
  return Number(v);
};

const count = (v: string, flag: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag}: "${v}" is not a whole number ≥ 1`);
  return Number(v);
};

/** D: the detail of the kinds' choices, which --once reads on each report. */
export interface CheckerPlan<D = unknown> {
  bin: string;
  /** The kind's key segment (haproxy/<kind>/<tag>), the same for every tag. */
  kind: string;
  /**
   * One checker per tag; a tag's own retryUp/retryDown/timeoutMs (from its config file) win over the
   * flags. `open` makes the tag's kind afresh each time this process takes the tag on (a kind's
   * close() is final, and a tag handed to another checker closes its kind).
   */
  tags: { tag: string; open: () => CheckerKind<any, any, any, D>; retryUp?: number; retryDown?: number; timeoutMs?: number; lockTtlMs?: number }[];
  /** For --once: the reason a tag is unhealthy, or undefined when healthy. */
  unhealthy?: (r: PassReport<Target, D>) => string | undefined;
  /** For --once: what the pass showed wrong in the configuration (a password the servers refuse); its category sets the exit code (65). */
  configProblem?: (r: PassReport<Target, D>) => ConfdError | undefined;
}

type Planner<D> = (store: KVStore, logger: Logger) => CheckerPlan<D> | Promise<CheckerPlan<D>>;

/** For --once: the entry points at a target that may serve. */
export const servesEligible = (r: PassReport): boolean => r.eligible.some((t) => t.host === r.entry?.host && t.port === r.entry?.port);

/** For --once: "127.0.0.1:3307 SQL thread not running", one per failed probe of the pass. */
export const failedProbes = (r: PassReport): string[] => r.results.filter((x) => !x.result.ok).map((x) => `${x.target.host}:${x.target.port} ${x.result.reason ?? 'failed'}`);

/** --prefix checked as the key segments it becomes; "" when not given. */
export function parsePrefix(prefix: string | undefined): string {
  const problem = prefixProblem(prefix ?? '');
  if (problem) throw new UsageError(`--prefix: ${problem}`);
  return trimPrefix(prefix);
}

/** The shortest heartbeat period taken: below it the heartbeat would cost more CPU than it saves time. */
export const MIN_HEARTBEAT_MS = 10;

/** --heartbeat: a period of at least MIN_HEARTBEAT_MS, or 0 for none. */
function parseHeartbeat(text: string | undefined): number {
  const ms = parseDuration(text ?? `${DEFAULT_HEARTBEAT_MS}ms`, '--heartbeat', 'ms');
  if (ms !== 0 && ms < MIN_HEARTBEAT_MS) throw new UsageError(`--heartbeat: "${text}" is below ${MIN_HEARTBEAT_MS}ms (0 turns the heartbeat off)`);
  return ms;
}

/** Every common flag parsed once, before any file is read: a bad flag is always exit 64. */
export function parseCheckerFlags(flags: CheckerFlags) {
  return {
    intervalMs: parseDuration(flags.interval, '--interval'),
    timeoutMs: parseDuration(flags.timeout, '--timeout'),
    heartbeatMs: parseHeartbeat(flags.heartbeat),
    heartbeatBudget: wholeNumber(flags.heartbeatBudget ?? String(DEFAULT_HEARTBEAT_BUDGET), '--heartbeat-budget'),
    retryUp: count(flags.retryUp, '--retry-up'),
    retryDown: count(flags.retryDown, '--retry-down'),
    lockTtlMs: parseDuration(flags.lockTtl, '--lock-ttl'),
    format: parseLogFormat(flags.logFormat),
    prefix: parsePrefix(flags.prefix),
    level: flags.debug || flags.verbose ? 'debug' : parseLogLevel(flags.logLevel ?? 'info'),
  };
}

/** The store the checker flags name (Consul by default, etcd, or the file store); one that cannot write is refused. */
export function storeFromCheckerFlags(flags: CheckerFlags): KVStore {
  const values = storeFlagValues(flags);
  // A checker writes the store: it starts the file when there is none yet (only the file backend takes it).
  const files = [values.file ?? []].flat() as string[];
  const createFile = files.length && !files.some(isYamlFile) && (values.backend ?? 'file') === 'file' ? { createFile: true } : {};
  return openStore(storeOptionsFromFlags({ ...values, ...createFile }), 'write');
}

/** This process in entries, locks and the member key: "host:pid". */
const checkerId = () => `${hostname()}:${process.pid}`;

type PlannedTag<D> = CheckerPlan<D>['tags'][number];

/**
 * Makes the plan's tag checkers, with the flags' defaults where a tag sets nothing. The heartbeat
 * budget counts every tag of the plan, even when this process checks only its share of them.
 */
function tagCheckerFactory<D>(p: CheckerPlan<D>, store: KVStore, logger: Logger, f: ReturnType<typeof parseCheckerFlags>): (t: PlannedTag<D>) => TagChecker<Target, unknown, unknown, D> {
  const heartbeatMs = heartbeatPeriod(f.heartbeatMs, p.tags.length, f.heartbeatBudget);
  if (heartbeatMs > f.heartbeatMs) logger.info(`${p.bin}: ${p.tags.length} tags: each heartbeat every ${heartbeatMs} ms, not ${f.heartbeatMs} ms, to stay within --heartbeat-budget ${f.heartbeatBudget} a second`);
  return (t) =>
    new TagChecker({
      tag: t.tag,
      kind: t.open(),
      store,
      logger,
      checker: checkerId(),
      timeoutMs: t.timeoutMs ?? f.timeoutMs,
      heartbeatMs,
      retryUp: t.retryUp ?? f.retryUp,
      retryDown: t.retryDown ?? f.retryDown,
      lockTtlMs: t.lockTtlMs ?? f.lockTtlMs,
      ...(f.prefix ? { prefix: f.prefix } : {}),
    });
}

interface CycleContext<D> {
  p: CheckerPlan<D>;
  store: KVStore;
  logger: Logger;
  f: ReturnType<typeof parseCheckerFlags>;
  signal: AbortSignal;
  onPass: ((r: PassReport) => void) | undefined;
  /** Told the tags this process checks while it shares them. */
  onAssigned: ((tags: ReadonlySet<string>) => void) | undefined;
}

/** Every tag of the plan here: the lock holder of each writes, the others stand by. */
function runEveryTag<D>(c: CycleContext<D>): Promise<void> {
  const open = tagCheckerFactory(c.p, c.store, c.logger, c.f);
  return runTagCheckers(c.p.tags.map(open), { intervalMs: c.f.intervalMs, signal: c.signal, ...(c.onPass ? { onPass: c.onPass } : {}) });
}

/** The plan's tags shared with the live checkers of this kind: this process checks its share. */
function runShare<D>(c: CycleContext<D>): Promise<void> {
  const open = tagCheckerFactory(c.p, c.store, c.logger, c.f);
  const byTag = new Map(c.p.tags.map((t) => [t.tag, t]));
  const membership = new Membership({ store: c.store, kind: c.p.kind, ...(c.f.prefix ? { prefix: c.f.prefix } : {}), checker: checkerId(), tags: [...byTag.keys()], ttlMs: c.f.lockTtlMs, logger: c.logger });
  return runSharedTagCheckers({
    tags: [...byTag.keys()],
    membership,
    locks: { store: c.store, prefix: locksPrefix(c.p.kind, c.f.prefix) },
    open: (tag) => open(byTag.get(tag)!),
    intervalMs: c.f.intervalMs,
    signal: c.signal,
    logger: c.logger,
    bin: c.p.bin,
    ...(c.onPass ? { onPass: c.onPass } : {}),
    ...(c.onAssigned ? { onAssigned: c.onAssigned } : {}),
  });
}

/** --once: one pass per tag; exit 1 with the reason when one is unhealthy, 65 when every failure is the configuration's. */
async function onePassOfEach<D>(p: CheckerPlan<D>, checkers: TagChecker<Target, unknown, unknown, D>[], logger: Logger, signal: AbortSignal): Promise<number> {
  const failures: Error[] = [];
  for (const c of checkers) {
    const r = await c.pass(signal);
    await c.close();
    const problem = p.configProblem?.(r);
    const why = problem?.message ?? (r.entry ? p.unhealthy?.(r) : `${r.tag}: ${r.reason}`);
    if (why) {
      withFields(logger, { code: problem?.code ?? (r.entry ? 'TAG_UNHEALTHY' : 'NO_ENTRY'), tag: r.tag }).error(why);
      failures.push(problem ?? new Error(why));
    }
  }
  return exitCodeOfAll(failures);
}

/** The checkers of the plan until stopped (or one pass with --once) → exit code; the log goes to io's stdout, as the original printed. */
export async function runCheckers<D>(flags: CheckerFlags, io: CommandIO, plan: Planner<D>): Promise<number> {
  const parsed = parseCheckerFlags(flags);
  const logger = createLogger({ format: parsed.format, level: parsed.level, stream: io.stdout });
  const store = storeFromCheckerFlags(flags);
  let locks: LocalLock[] = [];
  let observer: Server | undefined;
  const signals = trapSignals(flags.bin ?? basename(process.argv[1] ?? 'checker', '.js'), 'probes under way end within --timeout and the tag locks are handed back');
  signals.setLogger(logger);
  const releaseLocks = () => {
    for (const l of locks) l.release();
    locks = [];
  };
  try {
    let p = await plan(store, logger);
    let onPass: ((r: PassReport) => void) | undefined;
    let onAssigned: ((tags: ReadonlySet<string>) => void) | undefined;
    // Each SIGHUP ends a cycle: the config files are read again and the checkers start anew.
    for (let cycle = 0; ; cycle++) {
      for (const { tag } of p.tags) locks.push(takeLocalLock(flags.lockDir ?? defaultLockDir(), p.kind, tag, p.bin));
      if (flags.once) return await onePassOfEach(p, p.tags.map(tagCheckerFactory(p, store, logger, parsed)), logger, signals.stop);
      logger.debug(`${p.bin}: checking ${p.tags.map((x) => x.tag).join(', ')} every ${parsed.intervalMs} ms on ${store.describe}`);
      if (flags.listen && cycle === 0) {
        // prom-client and the HTTP server load only for --listen.
        const [{ checkerMetrics }, { newRegistry, startObserver }] = await Promise.all([import('./metrics.js'), import('./observe.js')]);
        const registry = newRegistry();
        const m = checkerMetrics(registry, { tags: p.tags.map((x) => x.tag), staleAfterMs: 3 * parsed.intervalMs + 3 * parsed.timeoutMs + 5000 });
        onPass = m.onPass;
        onAssigned = m.held;
        observer = await startObserver({ listen: flags.listen, registry, health: m.health, ready: m.ready });
      }
      const ctx: CycleContext<D> = { p, store, logger, f: parsed, signal: signals.cycle(), onPass, onAssigned };
      await (flags.shareTags === false ? runEveryTag(ctx) : runShare(ctx));
      releaseLocks();
      if (signals.stop.aborted) return EXIT.OK;
      p = await replan(plan, store, logger, p);
    }
  } finally {
    releaseLocks();
    observer?.close();
    await store.close().catch(() => {});
    signals.dispose();
  }
}

/** After SIGHUP: the plan from the config files as they are now, or the previous one when they are broken. */
async function replan<D>(plan: Planner<D>, store: KVStore, logger: Logger, previous: CheckerPlan<D>): Promise<CheckerPlan<D>> {
  try {
    const p = await plan(store, logger);
    logger.info(`${p.bin}: re-read the configuration; checking ${p.tags.map((x) => x.tag).join(', ')}`);
    return p;
  } catch (err) {
    withFields(logger, { code: 'CONFIG_RELOAD_FAILED', err }).error(`${previous.bin}: SIGHUP: ${(err as Error).message}; keeping the previous configuration`);
    return previous;
  }
}
