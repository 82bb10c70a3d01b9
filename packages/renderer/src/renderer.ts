// The orchestrator: the only place that knows the store, the templates and the runner.
// One pass = load resources → read their keys → render → stage/check/swap each → run each
// distinct reload_cmd once → roll back the resources whose reload failed.
import { watch as chokidarWatch } from 'chokidar';
import { join } from 'node:path';
import { isKVError, outageLog, sleep, watchPrefix, withFields, type KVInfo, type KVReader, type KVSnapshot, type KVWatcher } from '@confd-haproxy/kv';
import { loadResources, policyProblems, readDest, reloadOrRollback, ResourceError, stageAndSwap, STDOUT_DEST, type LocalPolicy, type ResourceConfig, type ResourceResult, type SwapResult } from '@confd-haproxy/resource';
import { applyRuntimeUpdate, createQuiescence, dedupeCommands, planRuntimeUpdate, type CommandResult } from '@confd-haproxy/runner';
import { createTemplateEngine, TemplateError, type TemplateEngine } from '@confd-haproxy/template';
import { readPrefixes, storePrefixes, templatePairs } from './data.js';
import { EntryMemory, entriesPath, type BadEntry } from './entries.js';
import { guardEmptiedBackends, guardRender } from './guards.js';
import { mostKeysGone, ResetHold } from './reset-hold.js';
import { catalogKeys, catalogOf, serviceData, watchCatalogKey, type CatalogSnapshot } from './services.js';

export interface RendererLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** A logger that adds these fields to every line (pino's child); JSON logs carry them as fields. */
  child?(fields: Record<string, unknown>): RendererLogger;
}

export interface RendererOptions {
  /** The renderer only reads and watches: any backend with these capabilities drives it. */
  store: KVReader & KVWatcher & KVInfo;
  /** Holds conf.d/ and templates/. */
  confdir: string;
  /** Where relative dests resolve (default: the confdir). */
  destDir?: string;
  /** The global -prefix. */
  prefix?: string;
  logger: RendererLogger;
  signal: AbortSignal;
  /** For templates' getenv and for commands. */
  env?: Record<string, string | undefined>;
  commandTimeoutMs?: number;
  /** Quiescence in watch mode. */
  wait?: { minMs: number; maxMs: number };
  /** Where each key's last good `entry` value is kept across restarts (default: only in memory). */
  stateDir?: string;
  /** Watch mode: after the store reset, render only once its data was stable this long (ms; 0: at once). Default 500. */
  resetHoldMs?: number;
  /** Watch mode: the back-off between failed store reads (default 200 ms doubling up to 1 s). */
  watchBackoff?: { baseMs: number; maxMs: number };
  noop?: boolean;
  syncOnly?: boolean;
  /** Render data a store without a known leader answered with (default: refuse it). */
  allowStale?: boolean;
  keepStageFile?: boolean;
  /** Commands and dest directories resources may use (--allow-command, --allow-dest); empty lists allow any. */
  policy?: LocalPolicy;
  /** Called after every pass (tests, status, metrics). */
  onPass?: (pass: PassResult) => void;
  /** Called after every answer or failure of a store watch (liveness, metrics). */
  onWatch?: (event: { prefix: string; ok: boolean; error?: string }) => void;
  /** Where dest = "-" writes (default: process.stdout). */
  stdout?: NodeJS.WritableStream;
}

export interface PassResult {
  ok: boolean;
  /** 0 ok · 1 job failed · 65 bad input (resource file, template, KV data). */
  exitCode: number;
  /** Some resource would change (noop/plan) or changed. */
  pending: boolean;
  resources: ResourceResult[];
  reloads: CommandResult[];
  errors: Error[];
  /** Entries `entry` refused this pass (each also in `errors`); the rest of their file rendered. */
  badEntries: BadEntry[];
  /** A runtime-only pass: the resources it rendered and left for the next full pass (they need a reload, or failed). */
  deferred?: string[];
}

const DATA_CODES = /^(RESOURCE_INVALID|RESOURCE_DUPLICATE_DEST|RESOURCE_NOT_ALLOWED|TEMPLATE_|KV_CORRUPT|KV_CONFIG)/;
const isDataError = (e: unknown) => typeof (e as { code?: unknown }).code === 'string' && DATA_CODES.test((e as { code: string }).code);

function summarize(resources: ResourceResult[], reloads: CommandResult[], errors: Error[], badEntries: BadEntry[] = []): PassResult {
  const bad = badEntries.map((b) => new TemplateError('TEMPLATE_BAD_VALUE', `${b.resource}: ${b.message}`, { key: b.key }));
  const all = [...errors, ...resources.flatMap((r) => (r.error ? [r.error] : [])), ...bad];
  const ok = all.length === 0;
  return {
    ok,
    exitCode: ok ? 0 : all.every(isDataError) ? 65 : 1,
    pending: resources.some((r) => r.changed),
    resources,
    reloads,
    errors: all,
    badEntries,
  };
}

function failedResult(r: ResourceConfig, error: Error): ResourceResult {
  return { resource: r.name, dest: r.dest, changed: false, checked: false, reloaded: false, rolledBack: false, diff: '', commands: [], error: error as ResourceResult['error'] };
}

/** The state one renderer keeps between passes. */
export class Renderer {
  readonly #opts: RendererOptions;
  readonly #engine: TemplateEngine;
  readonly #entries: EntryMemory;
  /** The message last logged per bad entry: a bad value is logged once, not every pass. */
  readonly #loggedBad = new Map<string, string>();
  #resources: ResourceConfig[] | undefined;

  constructor(opts: RendererOptions) {
    this.#opts = opts;
    this.#engine = createTemplateEngine({ templatesDir: join(opts.confdir, 'templates'), env: opts.env ?? {} });
    this.#entries = new EntryMemory(opts.stateDir ? entriesPath(opts.stateDir, opts.confdir) : undefined);
  }

  /** Log each bad entry once per change of its problem; forget the ones that are good again. */
  #reportBadEntries(resource: string, bad: readonly BadEntry[]): void {
    const now = new Set(bad.map((b) => `${resource}\0${b.key}`));
    for (const id of this.#loggedBad.keys()) if (id.startsWith(`${resource}\0`) && !now.has(id)) this.#loggedBad.delete(id);
    for (const b of bad) {
      const id = `${resource}\0${b.key}`;
      if (this.#loggedBad.get(id) === b.message) continue;
      this.#loggedBad.set(id, b.message);
      const instead = b.fallback === 'last-good' ? 'rendering its last good value' : 'leaving it out (no good value seen yet)';
      this.#opts.logger.error(`${resource}: ${b.message}; ${instead}, every other entry renders as the store holds it`);
    }
  }

  /** Remember a render's good entry values; a failed write costs only the memory, never the pass. */
  #commitEntries(commit: () => void): void {
    try {
      commit();
    } catch (err) {
      this.#opts.logger.warn(`cannot keep the last good entries under ${this.#opts.stateDir}: ${(err as Error).message}`);
    }
  }

  /**
   * Only server addresses, weights or states changed: send them to the runtime API before the file
   * is checked and swapped (HAProxy refuses a bad value itself), so check_cmd is not on a failover's
   * path. The commands applied, or undefined when a reload is needed (or the API refused).
   */
  async #runtimeFirst(r: ResourceConfig, previous: string | undefined, rendered: string, noop: boolean): Promise<string[] | undefined> {
    const log = this.#opts.logger;
    if (!r.runtimeSocket || noop || this.#opts.syncOnly || previous === undefined || previous === rendered) return undefined;
    const plan = planRuntimeUpdate(previous, rendered);
    if (!('commands' in plan)) {
      log.debug(`${r.dest}: reload needed: ${plan.reload}`);
      return undefined;
    }
    const applied = await applyRuntimeUpdate(r.runtimeSocket, plan.commands);
    if (!applied.ok) {
      log.warn(`${r.dest}: the runtime API refused (${applied.error}); reloading instead`);
      return undefined;
    }
    log.info(`${r.dest}: applied through the runtime API without a reload: ${plan.commands.join('; ') || 'nothing to set'}`);
    return plan.commands;
  }

  /** Drop cached resources and compiled templates: conf.d or templates changed. */
  invalidate(): void {
    this.#resources = undefined;
    this.#engine.reset();
  }

  async resources(): Promise<ResourceConfig[]> {
    if (this.#resources) return this.#resources;
    const loaded = await loadResources({ confdir: this.#opts.confdir, prefix: this.#opts.prefix ?? '', ...(this.#opts.destDir ? { destDir: this.#opts.destDir } : {}) });
    const problems = this.#opts.policy ? policyProblems(loaded, this.#opts.policy) : [];
    if (problems.length) throw new ResourceError('RESOURCE_NOT_ALLOWED', problems.join('\n'));
    this.#resources = loaded;
    return loaded;
  }

  /** Every store prefix any resource reads. */
  async prefixes(): Promise<string[]> {
    const all = (await this.resources()).flatMap((r) => storePrefixes(r.prefix, r.keys));
    return storePrefixes('', all);
  }

  /** Every catalog key (declared services, service lists) any resource watches. */
  async catalogKeys(): Promise<string[]> {
    const resources = await this.resources();
    for (const r of resources) if (r.services?.length) catalogOf(this.#opts.store, r);
    return [...new Set(resources.flatMap((r) => catalogKeys(r)))];
  }

  /**
   * One pass. `snapshots` (and `mode.catalog`) are the watch loops' latest answers; without them
   * the keys (and services) are read now.
   */
  async pass(snapshots?: ReadonlyMap<string, KVSnapshot>, mode: { noop?: boolean; runtimeOnly?: boolean; catalog?: ReadonlyMap<string, CatalogSnapshot> } = {}): Promise<PassResult> {
    const o = this.#opts;
    const log = o.logger;
    const noop = mode.noop ?? o.noop ?? false;
    let resources: ResourceConfig[];
    try {
      resources = await this.resources();
    } catch (err) {
      this.#resources = undefined;
      log.error((err as Error).message);
      return summarize([], [], [err as Error]);
    }
    const results: ResourceResult[] = [];
    const badEntries: BadEntry[] = [];
    const swaps: { resource: ResourceConfig; swap: SwapResult }[] = [];
    const deferred: string[] = [];
    const procOpts = {
      noop,
      syncOnly: o.syncOnly ?? false,
      keepStageFile: o.keepStageFile ?? false,
      commandTimeoutMs: o.commandTimeoutMs ?? 30_000,
      env: o.env ?? {},
      logger: log,
      signal: o.signal,
    };
    for (const r of resources) {
      // A stop (SIGTERM) lets the work already swapped finish, but starts nothing new.
      if (o.signal.aborted) break;
      // A runtime-only pass looks only at resources the runtime API can update.
      if (mode.runtimeOnly && (!r.runtimeSocket || noop || o.syncOnly || r.dest === STDOUT_DEST)) continue;
      const rlog = withFields(log, { resource: r.name, dest: r.dest });
      const prefixes = storePrefixes(r.prefix, r.keys);
      let rendered: string;
      let knownLeader: boolean;
      try {
        const snaps = snapshots && prefixes.every((p) => snapshots.has(p)) ? prefixes.map((p) => snapshots.get(p)!) : [...(await readPrefixes(o.store, prefixes, o.signal)).snapshots.values()];
        const services = await serviceData(o.store, r, mode.catalog, o.signal);
        knownLeader = snaps.every((s) => s.knownLeader) && services.knownLeader;
        const entries = this.#entries.begin(r.name);
        rendered = await this.#engine.render(r.src, templatePairs(r.prefix, snaps), { entries: entries.recovery, ...(services.data ? { services: services.data } : {}) });
        this.#reportBadEntries(r.name, entries.bad);
        badEntries.push(...entries.bad);
        if (!noop) this.#commitEntries(entries.commit);
      } catch (err) {
        const e = err as Error;
        if (mode.runtimeOnly) {
          // The full pass after the quiet period reports it, once.
          deferred.push(r.name);
          continue;
        }
        withFields(rlog, { outcome: 'failed', err: e }).error(`${r.name}: ${e.message}; ${r.dest} left as it was`);
        results.push(failedResult(r, e));
        continue;
      }
      if (r.dest === STDOUT_DEST) {
        (o.stdout ?? process.stdout).write(rendered);
        withFields(rlog, { outcome: 'printed' }).debug(`${r.name}: rendered to stdout`);
        results.push({ resource: r.name, dest: r.dest, changed: false, checked: false, reloaded: false, rolledBack: false, diff: '', commands: [] });
        continue;
      }
      let previous: string | undefined;
      try {
        previous = await readDest(r.name, r.dest);
      } catch (err) {
        if (mode.runtimeOnly) {
          deferred.push(r.name);
          continue;
        }
        withFields(rlog, { outcome: 'refused', err }).error((err as Error).message);
        results.push(failedResult(r, err as Error));
        continue;
      }
      if (mode.runtimeOnly && !runtimeApplies(previous, rendered)) {
        if (previous !== rendered) deferred.push(r.name);
        continue;
      }
      const refused =
        guardRender({
          name: r.name,
          previous,
          rendered,
          knownLeader,
          allowStale: o.allowStale ?? false,
          limits: { ...(r.minServers !== undefined ? { minServers: r.minServers } : {}), ...(r.maxRemoved !== undefined ? { maxRemoved: r.maxRemoved } : {}) },
        }) ?? (r.services?.length ? guardEmptiedBackends({ name: r.name, previous, rendered }) : undefined);
      if (refused) {
        withFields(rlog, { outcome: 'refused', err: refused }).error(refused.message);
        results.push(failedResult(r, refused));
        continue;
      }
      const runtime = await this.#runtimeFirst(r, previous, rendered, noop);
      const swap = await stageAndSwap(r, rendered, procOpts);
      if (swap.error) withFields(rlog, { outcome: 'failed', err: swap.error }).error(runtime ? `${swap.error.message}; HAProxy already runs the new servers (runtime API), the old file stays for the next reload` : swap.error.message);
      else if (swap.changed && noop) withFields(rlog, { outcome: 'would change' }).info(`${r.dest} would change`);
      else if (swap.changed) withFields(rlog, { outcome: 'updated' }).info(`${r.dest} updated${swap.checked ? ' (check_cmd passed)' : ''}`);
      else withFields(rlog, { outcome: 'in sync' }).debug(`${r.dest} in sync`);
      const { rollback: _rollback, previous: _previous, ...data } = swap;
      const result: ResourceResult = { ...data, reloaded: false, rolledBack: false, ...(runtime ? { runtime } : {}) };
      results.push(result);
      if (!swap.changed || swap.error || noop || runtime) continue;
      swaps.push({ resource: r, swap });
    }
    // Identical reload commands of several resources run once; a failure rolls back each of them.
    const reloads: CommandResult[] = [];
    // A stop does not abort a reload: a swapped dest is reloaded (bounded by its timeout), never half-applied.
    const { signal: _stop, ...reloadOpts } = procOpts;
    if (!noop && !o.syncOnly) {
      for (const cmd of dedupeCommands(swaps.map((s) => s.resource.reloadCmd))) {
        const group = swaps.filter((s) => s.resource.reloadCmd === cmd);
        const timeout = Math.max(...group.map((s) => s.resource.commandTimeoutMs ?? o.commandTimeoutMs ?? 30_000));
        const r = await reloadOrRollback(cmd, group.map((s) => s.swap), { ...reloadOpts, timeoutMs: timeout });
        reloads.push(r.result);
        const fields = { dest: group.map((s) => s.swap.dest).join(','), durationMs: r.result.durationMs };
        if (r.error) withFields(log, { ...fields, outcome: 'reload failed', err: r.error }).error(r.error.message);
        else withFields(log, { ...fields, outcome: 'reloaded' }).info(`reloaded: ${cmd}`);
        for (const s of group) {
          const res = results.find((x) => x.dest === s.swap.dest)!;
          res.commands.push(r.result);
          res.reloaded = r.result.ok;
          res.rolledBack = !r.result.ok && r.restored.includes(s.swap.dest);
          if (r.error) res.error = r.error;
        }
      }
    }
    // A runtime-only pass leaves resources out on purpose; in a full pass, only a stop does.
    const skipped = mode.runtimeOnly ? 0 : resources.length - results.length;
    const interrupted = skipped > 0 ? [new Error(`stopped before rendering ${skipped} of ${resources.length} resource(s); their dests are left as they were`)] : [];
    const pass = { ...summarize(results, reloads, interrupted, badEntries), ...(mode.runtimeOnly ? { deferred } : {}) };
    // A runtime-only pass that touched nothing is no pass for observers (it left everything to the full one).
    if (!mode.runtimeOnly || results.length > 0) o.onPass?.(pass);
    return pass;
  }
}

/** The change from previous to rendered is one the runtime API applies (no reload needed). */
function runtimeApplies(previous: string | undefined, rendered: string): boolean {
  return previous !== undefined && previous !== rendered && 'commands' in planRuntimeUpdate(previous, rendered);
}

/** -onetime: one pass, fresh reads. */
export async function runOnce(opts: RendererOptions): Promise<PassResult> {
  return new Renderer(opts).pass();
}

/** plan / -noop: render and diff, change nothing. */
export async function planAll(opts: RendererOptions): Promise<PassResult> {
  return new Renderer(opts).pass(undefined, { noop: true });
}

/** -interval N: a pass every N ms, re-reading conf.d and templates each time (as confd). */
export async function runInterval(opts: RendererOptions & { intervalMs: number }): Promise<void> {
  const renderer = new Renderer(opts);
  while (!opts.signal.aborted) {
    renderer.invalidate();
    await renderer.pass();
    await sleep(opts.intervalMs, opts.signal);
  }
}

/**
 * -watch: blocking watches on every prefix, plus file events on conf.d and templates; changes are
 * coalesced (wait min of quiet, at most max) into one pass. The first change of a burst is also
 * tried at once as a runtime-only pass: a failover that only moves servers goes to the runtime API
 * without waiting for the quiet period (anything needing a reload still waits for it).
 */
export async function runWatch(opts: RendererOptions): Promise<void> {
  const log = opts.logger;
  const renderer = new Renderer(opts);
  const wait = opts.wait ?? { minMs: 200, maxMs: 2000 };
  const latest = new Map<string, KVSnapshot>();
  const latestCatalog = new Map<string, CatalogSnapshot>();
  let loops = new AbortController();
  let prefixes: string[] = [];
  let catalog: string[] = [];
  // Runtime-only and full passes never overlap: both may write the same dest.
  let serial: Promise<unknown> = Promise.resolve();
  const exclusive = (fn: () => Promise<unknown>) => (serial = serial.then(fn, fn).catch(() => undefined));
  const q = createQuiescence({ ...wait, signal: opts.signal }, async () => {
    await exclusive(async () => {
      if (hold.held) return;
      await renderer.pass(latest, { catalog: latestCatalog });
    });
  });
  const hold = new ResetHold(opts.resetHoldMs ?? 500, log, () => q.poke());
  // One runtime-only pass running and one queued at most; after one that found reload work,
  // the changes of the next minMs are left to the full pass (a burst of them is not rendered twice each).
  let fastQueued = false;
  let deferredAt = -Infinity;
  const changed = () => {
    q.poke();
    if (fastQueued || opts.signal.aborted || Date.now() - deferredAt < wait.minMs) return;
    fastQueued = true;
    void exclusive(async () => {
      fastQueued = false;
      if (hold.held) return;
      const r = await renderer.pass(latest, { runtimeOnly: true, catalog: latestCatalog });
      if (r.deferred?.length) deferredAt = Date.now();
    });
  };
  // A short back-off ceiling: a restarted store is read again within about a second.
  const backoff = opts.watchBackoff ?? { baseMs: 200, maxMs: 1000 };
  const onSnapshot = (p: string, snap: KVSnapshot) => {
    const before = latest.get(p);
    if (before && mostKeysGone(before.pairs.length, snap.pairs.length)) {
      hold.reset(`watch ${p || '/'}: ${before.pairs.length - snap.pairs.length} of ${before.pairs.length} keys gone at once`);
    } else hold.changed();
    latest.set(p, snap);
    if (!hold.held && ready()) changed();
  };
  const ready = () => prefixes.every((x) => latest.has(x)) && catalog.every((x) => latestCatalog.has(x));

  const startLoops = async () => {
    loops.abort();
    loops = new AbortController();
    latest.clear();
    latestCatalog.clear();
    try {
      prefixes = await renderer.prefixes();
      catalog = await renderer.catalogKeys();
    } catch (err) {
      log.error(`${(err as Error).message}; keeping the last good configuration, waiting for conf.d to be fixed`);
      return;
    }
    const signal = AbortSignal.any([opts.signal, loops.signal]);
    for (const key of catalog) {
      const outage = outageLog(withFields(log, { prefix: key }), `watch ${key}`);
      void (async () => {
        for await (const snap of watchCatalogKey(opts.store.catalog!, key, {
          signal,
          backoff,
          onError: (err, attempt, delay) => {
            const what = isKVError(err) ? err.message : String(err);
            outage.failed(err, `${what}; retry ${attempt} in ${delay} ms`);
            opts.onWatch?.({ prefix: key, ok: false, error: what });
          },
          onPoll: () => {
            outage.ok();
            opts.onWatch?.({ prefix: key, ok: true });
          },
        })) {
          outage.ok();
          latestCatalog.set(key, snap);
          if (!hold.held && ready()) changed();
        }
      })();
    }
    for (const p of prefixes) {
      // An outage is told once when it starts, as a count while it lasts, and once when it ends.
      const outage = outageLog(withFields(log, { prefix: p || '/' }), `watch ${p || '/'}`);
      void (async () => {
        for await (const snap of watchPrefix(opts.store, p, {
          signal,
          backoff,
          onReset: ({ from, to }) => hold.reset(`watch ${p || '/'}: the store's index went back from ${from} to ${to} (restarted or restored)`),
          onError: (err, attempt, delay) => {
            const what = isKVError(err) ? err.message : String(err);
            outage.failed(err, `${what}; retry ${attempt} in ${delay} ms`);
            opts.onWatch?.({ prefix: p, ok: false, error: what });
          },
          onPoll: () => {
            outage.ok();
            opts.onWatch?.({ prefix: p, ok: true });
          },
        })) {
          outage.ok();
          onSnapshot(p, snap);
        }
      })();
    }
  };

  const files = chokidarWatch([join(opts.confdir, 'conf.d'), join(opts.confdir, 'templates')], { ignoreInitial: true, depth: 3 });
  files.on('all', () => {
    log.info('conf.d or templates changed: reloading them');
    renderer.invalidate();
    void startLoops();
  });
  files.on('error', (err) => log.warn(`file watch: ${String(err)}`));
  await startLoops();
  await new Promise<void>((done) => {
    if (opts.signal.aborted) return done();
    opts.signal.addEventListener('abort', () => done(), { once: true });
  });
  loops.abort();
  hold.stop();
  q.stop();
  await files.close();
  await q.idle();
  await serial;
}
