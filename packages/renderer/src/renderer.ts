// The orchestrator: the only place that knows the store, the templates and the runner.
// One pass = load resources → per resource read → render → guard (stages.ts) → stage/check/swap,
// the runtime API first when that is its apply strategy → apply: each distinct reload_cmd once,
// rolling back the resources whose reload failed (@confd-haproxy/resource, apply/).
import { join } from 'node:path';
import { DEFAULT_COMMAND_TIMEOUT_MS, exitCodeOfAll } from '@confd-haproxy/base';
import { sleep, withFields, type KVSnapshot } from '@confd-haproxy/kv';
import {
  applySwapped,
  chooseApply,
  commandMode,
  loadResources,
  outputRules,
  policyProblems,
  readDest,
  renderedProblem,
  ResourceError,
  STDOUT_DEST,
  swapChange,
  type Change,
  type LocalPolicy,
  type OutputRules,
  type ReloadOptions,
  type ResourceConfig,
  type ResourceResult,
  type Swapped,
  type SwapOptions,
} from '@confd-haproxy/resource';
import { changeSummary, commandEnv, describeChange, type CommandResult } from '@confd-haproxy/runner';
import { createInlineEngine, createIsolatedEngine, TemplateError, type IsolatedEngine } from '@confd-haproxy/template';
import { storePrefixes } from './data.js';
import { EntryMemory, entriesPath } from './entries.js';
import type { BadEntry, PassResult, RendererLogger, RendererOptions } from './types.js';

export type { PassResult, RendererLogger, RendererOptions } from './types.js';
import { catalogKeys, catalogOf, type CatalogSnapshot } from './services.js';
import { guardStage, readStage, renderStage, type ReadInput, type RenderResult } from './stages.js';
import { holdServedSections } from './hold.js';

function summarize(resources: ResourceResult[], reloads: CommandResult[], errors: Error[], badEntries: BadEntry[] = []): PassResult {
  const bad = badEntries.map((b) => new TemplateError('TEMPLATE_BAD_VALUE', `${b.resource}: ${b.message}`, { key: b.key }));
  const all = [...errors, ...resources.flatMap((r) => (r.error ? [r.error] : [])), ...bad];
  const ok = all.length === 0;
  return {
    ok,
    exitCode: exitCodeOfAll(all),
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

function printedResult(r: ResourceConfig): ResourceResult {
  return { resource: r.name, dest: r.dest, changed: false, checked: false, reloaded: false, rolledBack: false, diff: '', commands: [] };
}

/** What a pass asks for besides its data. */
export interface PassMode {
  noop?: boolean;
  /** Only the resources the runtime API can update; the rest are left to the next full pass. */
  runtimeOnly?: boolean;
  /** The catalog watch loops' latest answers. */
  catalog?: ReadonlyMap<string, CatalogSnapshot>;
}

/** One pass's settings, resolved once, and what its resources found. */
interface PassContext {
  read: ReadInput;
  /** What each rendered file may say; undefined: anything. */
  output: OutputRules | undefined;
  noop: boolean;
  syncOnly: boolean;
  runtimeOnly: boolean;
  swap: SwapOptions & { logger: RendererLogger };
  reload: ReloadOptions;
  badEntries: BadEntry[];
}

/** Where one resource's chain ended, before the apply stage. */
type Step =
  /** Failed, refused or printed: nothing is left to apply. */
  | { done: ResourceResult }
  | { swapped: Swapped }
  /** A runtime-only pass rendered it and left it for the next full pass (it needs a reload, or failed). */
  | { deferred: string }
  /** A runtime-only pass found nothing to do for it. */
  | { skipped: true };

/** What a bad entry renders instead, in its log line. */
const FALLBACK_TEXT: Record<BadEntry['fallback'], string> = {
  'last-good': 'rendering its last good value',
  'left-out': 'leaving it out (no good value seen yet)',
  kept: 'keeping its listens as dest serves them (no good value seen yet)',
};

/** A runtime-only pass looks only at resources the runtime API can update. */
const runtimeCandidate = (r: ResourceConfig, ctx: PassContext) => Boolean(r.runtimeSocket) && !ctx.noop && !ctx.syncOnly && r.dest !== STDOUT_DEST;

/**
 * The engine a renderer with these options renders with, within the render budget: a looping
 * template costs its resource's render, never the process. A long-lived process renders in a
 * worker, so its thread answers /livez and signals meanwhile; a process that renders once and
 * exits renders in this thread and skips the worker's start (template's inline.ts).
 */
export function createRenderEngine(opts: Pick<RendererOptions, 'confdir' | 'env' | 'bundle' | 'policy' | 'renderBudget'>, where: 'worker' | 'this-thread' = 'worker'): IsolatedEngine {
  const envNames = opts.bundle ? { envNames: opts.policy?.allowEnv ?? [] } : {};
  const engineOpts = { templatesDir: join(opts.confdir, 'templates'), env: opts.env ?? {}, ...envNames, ...(opts.renderBudget ? { budget: opts.renderBudget } : {}) };
  return where === 'worker' ? createIsolatedEngine(engineOpts) : createInlineEngine(engineOpts);
}

/** The options of a renderer that renders once and exits (-onetime, plan, a push's trial): it renders in this thread. */
export function oneShot(opts: RendererOptions): RendererOptions {
  return opts.engine ? opts : { ...opts, engine: createRenderEngine(opts, 'this-thread') };
}

/** The state one renderer keeps between passes. */
export class Renderer {
  readonly #opts: RendererOptions;
  readonly #engine: IsolatedEngine;
  readonly #entries: EntryMemory;
  /** The message last logged per bad entry: a bad value is logged once, not every pass. */
  readonly #loggedBad = new Map<string, string>();
  #resources: ResourceConfig[] | undefined;

  constructor(opts: RendererOptions) {
    this.#opts = opts;
    this.#engine = opts.engine ?? createRenderEngine(opts);
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
      const instead = FALLBACK_TEXT[b.fallback];
      const log = withFields(this.#opts.logger, { resource, key: b.key, outcome: 'bad-entry', fallback: b.fallback, err: { message: b.message, code: 'TEMPLATE_BAD_VALUE' } });
      if (b.source === 'catalog') log.error(`${resource}: ${b.message}; leaving it out, everything else renders as the catalog holds it`);
      else log.error(`${resource}: ${b.message}; ${instead}, every other entry renders as the store holds it`);
    }
  }

  /** Remember a render's good entry values; a failed write costs only the memory, never the pass. */
  #commitEntries(commit: () => void): void {
    try {
      commit();
    } catch (err) {
      withFields(this.#opts.logger, { code: 'STATE_WRITE_FAILED', err }).warn(`cannot keep the last good entries under ${this.#opts.stateDir}: ${(err as Error).message}`);
    }
  }

  /** Stop the render worker: this renderer is done (a later pass would start another). A worker it was given stays. */
  close(): Promise<void> {
    return this.#opts.engine ? Promise.resolve() : this.#engine.close();
  }

  /** Drop cached resources and compiled templates: conf.d or templates changed. */
  invalidate(): void {
    this.#resources = undefined;
    this.#engine.reset();
  }

  get #policy(): LocalPolicy {
    return this.#opts.policy ?? { allowCommands: [], allowDests: [] };
  }

  /** A bundle's commands, and those of push's trial of one, run as argv words (--allow-command makes every command so, in commandMode). */
  get #argv(): boolean {
    return (this.#opts.bundle ?? false) || (this.#opts.argvCommands ?? false);
  }

  async resources(): Promise<ResourceConfig[]> {
    if (this.#resources) return this.#resources;
    const bundle = this.#opts.bundle ?? false;
    const loaded = await loadResources({ confdir: this.#opts.confdir, prefix: this.#opts.prefix ?? '', bundle, ...(this.#opts.destDir ? { destDir: this.#opts.destDir } : {}) });
    const problems = policyProblems(loaded, this.#policy, { bundle, argv: this.#argv });
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

  /** A pass that stopped at loading conf.d: logged, and told to onPass like every other pass. */
  loadFailed(err: Error, mode: Pick<PassMode, 'runtimeOnly'> = {}, then = ''): PassResult {
    this.#resources = undefined;
    withFields(this.#opts.logger, { outcome: 'load-failed', err }).error(`${err.message}${then}`);
    const pass = summarize([], [], [err]);
    // A runtime-only pass leaves everything to the full pass, this failure too.
    if (!mode.runtimeOnly) this.#opts.onPass?.(pass);
    return pass;
  }

  /**
   * One pass: load → per resource read → render → guard → stage/check/swap → apply (see apply/ in
   * @confd-haproxy/resource). `snapshots` (and `mode.catalog`) are the watch loops' latest answers;
   * without them the keys (and services) are read now.
   */
  async pass(snapshots?: ReadonlyMap<string, KVSnapshot>, mode: PassMode = {}): Promise<PassResult> {
    let resources: ResourceConfig[];
    try {
      resources = await this.resources();
    } catch (err) {
      return this.loadFailed(err as Error, mode);
    }
    const ctx = this.#context(snapshots, mode);
    const steps: Step[] = [];
    for (const r of resources) {
      // A stop (SIGTERM) lets the work already swapped finish, but starts nothing new.
      if (this.#opts.signal.aborted) break;
      if (ctx.runtimeOnly && !runtimeCandidate(r, ctx)) continue;
      steps.push(await this.#resource(r, ctx));
    }
    const applied = await applySwapped(steps.flatMap((s) => ('swapped' in s ? [s.swapped] : [])), ctx.reload);
    return this.#report(resources, steps, applied, ctx);
  }

  #context(snapshots: ReadonlyMap<string, KVSnapshot> | undefined, mode: PassMode): PassContext {
    const o = this.#opts;
    const noop = mode.noop ?? o.noop ?? false;
    const syncOnly = o.syncOnly ?? false;
    const commandTimeoutMs = o.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    // check_cmd and reload_cmd: never the store's credentials, and argv words unless the operator's own conf.d allows a shell.
    const env = commandEnv(o.env ?? {}, o.commandEnv ?? []);
    const run = commandMode({ fromBundle: this.#argv, allowCommands: this.#policy.allowCommands });
    return {
      read: { store: o.store, snapshots, catalog: mode.catalog, signal: o.signal },
      output: outputRules(o.policy, o.bundle ?? false),
      noop,
      syncOnly,
      runtimeOnly: mode.runtimeOnly ?? false,
      swap: { noop, syncOnly, keepStageFile: o.keepStageFile ?? false, commandTimeoutMs, env, commandMode: run, logger: o.logger, signal: o.signal, ...(o.policy ? { policy: o.policy } : {}) },
      // A stop does not abort a reload: a swapped dest is reloaded (bounded by its timeout), never half-applied.
      reload: { commandTimeoutMs, env, commandMode: run, logger: o.logger },
      badEntries: [],
    };
  }

  /** One resource's chain: read → render → guard → (runtime API) stage/check/swap. Its apply waits for the pass's apply stage. */
  async #resource(r: ResourceConfig, ctx: PassContext): Promise<Step> {
    const rlog = withFields(this.#opts.logger, { resource: r.name, dest: r.dest });
    let rendered: RenderResult;
    try {
      rendered = await renderStage(r, await readStage(r, ctx.read), this.#engine, this.#entries, ctx.read.signal);
    } catch (err) {
      const e = err as Error;
      // A stop or SIGHUP ends a render in progress (its worker is stopped): say so, not the abort's text.
      const what = ctx.read.signal.aborted ? 'stopped while rendering' : e.message;
      return failedStep(r, e, ctx, rlog, 'failed', `${r.name}: ${what}; ${r.dest} left as it was`);
    }
    const said = ctx.output && renderedProblem(r, rendered.text, ctx.output);
    const dest = said || r.dest === STDOUT_DEST ? undefined : await readDest(r.name, r.dest, ctx.swap.policy).then((previous) => ({ previous }), (err: Error) => ({ err }));
    // A bad entry never removes a section dest serves; its entries are told and remembered as held.
    if (dest && 'previous' in dest) rendered = { ...rendered, ...holdServedSections(dest.previous, rendered.text, rendered.bad) };
    this.#keepEntries(r, rendered, ctx);
    if (said) return failedStep(r, said, ctx, rlog, 'refused', said.message);
    if (!dest) return { done: this.#print(r, rendered.text, rlog) };
    if ('err' in dest) return failedStep(r, dest.err, ctx, rlog, 'refused', dest.err.message);
    const previous = dest.previous;
    const change: Change = { resource: r, previous, rendered: rendered.text };
    const strategy = chooseApply(change, ctx);
    if (ctx.runtimeOnly && strategy.kind !== 'runtime-api') return previous !== rendered.text ? { deferred: r.name } : { skipped: true };
    const refused = guardStage(change, rendered.knownLeader, this.#opts.allowStale ?? false);
    if (refused) {
      withFields(rlog, { outcome: 'refused', err: refused }).error(refused.message);
      return { done: failedResult(r, refused) };
    }
    const swapped = await swapChange(change, strategy, ctx.swap);
    logSwap(rlog, swapped, change, ctx.noop);
    return { swapped };
  }

  /** After a render: log its bad entries once, and remember its good ones (not in a noop pass). */
  #keepEntries(r: ResourceConfig, rendered: RenderResult, ctx: PassContext): void {
    this.#reportBadEntries(r.name, rendered.bad);
    ctx.badEntries.push(...rendered.bad);
    if (!ctx.noop) this.#commitEntries(rendered.commit);
  }

  /** dest = "-": the render goes to stdout, nothing is swapped or applied. */
  #print(r: ResourceConfig, text: string, rlog: RendererLogger): ResourceResult {
    (this.#opts.stdout ?? process.stdout).write(text);
    withFields(rlog, { outcome: 'printed' }).debug(`${r.name}: rendered to stdout`);
    return printedResult(r);
  }

  /** The pass as data, told to onPass. */
  #report(resources: readonly ResourceConfig[], steps: readonly Step[], applied: { results: ResourceResult[]; reloads: CommandResult[] }, ctx: PassContext): PassResult {
    const fromApply = applied.results.values();
    const results = steps.flatMap((s) => ('done' in s ? [s.done] : 'swapped' in s ? [fromApply.next().value!] : []));
    const deferred = steps.flatMap((s) => ('deferred' in s ? [s.deferred] : []));
    // A runtime-only pass leaves resources out on purpose; in a full pass, only a stop does.
    const skipped = ctx.runtimeOnly ? 0 : resources.length - results.length;
    const interrupted = skipped > 0 ? [new Error(`stopped before rendering ${skipped} of ${resources.length} resource(s); their dests are left as they were`)] : [];
    const pass = { ...summarize(results, applied.reloads, interrupted, ctx.badEntries), ...(ctx.runtimeOnly ? { deferred } : {}) };
    // A runtime-only pass that touched nothing is no pass for observers (it left everything to the full one).
    if (!ctx.runtimeOnly || results.length > 0) this.#opts.onPass?.(pass);
    return pass;
  }
}

/** A resource that failed before its swap: reported now, or in a runtime-only pass left to the full pass, which reports it once. */
function failedStep(r: ResourceConfig, err: Error, ctx: PassContext, rlog: RendererLogger, outcome: string, message: string): Step {
  if (ctx.runtimeOnly) return { deferred: r.name };
  withFields(rlog, { outcome, err }).error(message);
  return { done: failedResult(r, err) };
}

function logSwap(rlog: RendererLogger, { swap, runtime }: Swapped, change: Change, noop: boolean): void {
  if (swap.error) withFields(rlog, { outcome: 'failed', err: swap.error }).error(runtime ? `${swap.error.message}; HAProxy already runs the new servers (runtime API), the old file stays for the next reload` : swap.error.message);
  else if (swap.changed && noop) withFields(rlog, { outcome: 'would change' }).info(`${swap.dest} would change`);
  else if (swap.changed) logUpdated(rlog, swap, change);
  else withFields(rlog, { outcome: 'in sync' }).debug(`${swap.dest} in sync`);
}

/** "dest updated (check_cmd passed): listen x: server a 10.0.0.1:3306 → 10.0.0.2:3306": what changed, per proxy, as text and as a field. */
function logUpdated(rlog: RendererLogger, swap: Swapped['swap'], { previous, rendered }: Change): void {
  const changes = previous === undefined ? undefined : describeChange(previous, rendered);
  const summary = changes ? changeSummary(changes) : 'new file';
  withFields(rlog, { outcome: 'updated', ...(changes ? { changes } : {}) }).info(`${swap.dest} updated${swap.checked ? ' (check_cmd passed)' : ''}${summary ? `: ${summary}` : ''}`);
}

/** One renderer for the length of `use`, its render worker stopped afterwards. */
export async function withRenderer<T>(opts: RendererOptions, use: (renderer: Renderer) => Promise<T>): Promise<T> {
  const renderer = new Renderer(opts);
  try {
    return await use(renderer);
  } finally {
    await renderer.close();
  }
}

/** -onetime: one pass, fresh reads. */
export async function runOnce(opts: RendererOptions): Promise<PassResult> {
  return withRenderer(oneShot(opts), (r) => r.pass());
}

/** plan / -noop: render and diff, change nothing. */
export async function planAll(opts: RendererOptions): Promise<PassResult> {
  return withRenderer(oneShot(opts), (r) => r.pass(undefined, { noop: true }));
}

/** -interval N: a pass every N ms, re-reading conf.d and templates each time (as confd). */
export async function runInterval(opts: RendererOptions & { intervalMs: number }): Promise<void> {
  await withRenderer(opts, async (renderer) => {
    while (!opts.signal.aborted) {
      renderer.invalidate();
      await renderer.pass();
      await sleep(opts.intervalMs, opts.signal);
    }
  });
}
