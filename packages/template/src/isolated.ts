// The engine the renderer uses: each render runs in a worker thread (render-worker.ts) within a
// budget (budget.ts). A render that computes past its time limit has its worker stopped and fails
// with TEMPLATE_TIMEOUT; the next render starts a new worker. Meanwhile the process's own thread
// stays free: /livez answers, signals are handled, a stop ends the render at once. The worker is
// long-lived (start-up and compiled templates are paid once, not by the first render after a quiet
// hour, a failover's) until close().
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { formatBytes, formatMs, renderBudget, timedOut, type RenderBudget } from './budget.js';
import type { RenderOptions, TemplateData, TemplateEngine } from './engine.js';
import { dnsAnswerer, srcFileName, type LookupAnswerer } from './lookups.js';
import { TemplateError } from './errors.js';
import type { EntryRecovery } from './helpers.js';
import type { EntryEvent, ErrorData, FromWorker, ToWorker, WorkerSettings } from './protocol.js';

export interface IsolatedEngineOptions {
  /** As createTemplateEngine's. */
  templatesDir: string;
  /** For `getenv`; copied to the worker once. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The names `getenv` may read (a bundle's --allow-env); absent: every name of env. */
  envNames?: readonly string[];
  /** Time and size limits of one render; unset ones take the defaults (10 s, 64 MiB). */
  budget?: Partial<RenderBudget>;
  /** Per DNS lookup (answered here, not in the worker). Default 5000. */
  lookupTimeoutMs?: number;
}

export interface IsolatedEngine extends TemplateEngine {
  /** Stop the worker (a later render starts another); an idle worker never keeps the process alive. */
  close(): Promise<void>;
}

type Outcome = Extract<FromWorker, { type: 'rendered' | 'failed' }>;
type RenderRequest = Extract<ToWorker, { type: 'render' }>;

const MiB = 1024 * 1024;
/** How long a worker may take to load before its render fails (the render's own limit starts after it). */
const WORKER_START_LIMIT_MS = 60_000;
const WORKER_URL = new URL('./render-worker.js', import.meta.url);

/** The worker's heap: room for the data and a few copies of the largest output, no more. */
const heapLimitMb = (maxBytes: number) => Math.max(256, Math.ceil((16 * maxBytes) / MiB));

/** A render's time: runs while the worker computes, pauses while the render waits for DNS answers. */
class RenderClock {
  #left: number;
  #since = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #onTimeout: () => void;

  constructor(ms: number, onTimeout: () => void) {
    this.#left = ms;
    this.#onTimeout = onTimeout;
  }

  run(): void {
    this.#since = performance.now();
    this.#timer = setTimeout(this.#onTimeout, Math.max(0, this.#left));
  }

  pause(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#left -= performance.now() - this.#since;
  }
}

/** The data by key as the engine sees it: keys with "/", the last of a repeated key winning. */
function valuesByKey(data: TemplateData): Map<string, string> {
  return new Map(data.map((p) => [p.key.startsWith('/') ? p.key : `/${p.key}`, p.value]));
}

/**
 * The last good entry values the worker's `entry` may need: those of keys that now hold another
 * value. A key whose value is its last good one needs none: if that value is refused now, its
 * last good one would be refused alike, and the entry is left out either way.
 */
function lastGoodValues(values: ReadonlyMap<string, string>, recovery: EntryRecovery): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of values) {
    const good = recovery.lastGood(key);
    if (good !== undefined && good !== value) out.set(key, good);
  }
  return out;
}

/** Why each key's good value must still not render, as the caller's recovery decided it. */
function conflictsOf(values: ReadonlyMap<string, string>, recovery: EntryRecovery): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of values.keys()) {
    const why = recovery.conflict?.(key);
    if (why !== undefined) out.set(key, why);
  }
  return out;
}

/** What the worker's `entry` and guard did, told to the caller's recoveries in order. */
function replay(events: readonly EntryEvent[], values: ReadonlyMap<string, string> | undefined, opts: RenderOptions): void {
  for (const e of events) {
    if ('catalogRefused' in e) opts.catalog?.refused(e.catalogRefused.key, e.catalogRefused.message);
    else if ('accepted' in e) opts.entries?.accepted(e.accepted, values!.get(e.accepted)!);
    else opts.entries?.refused(e.refused.key, e.refused.message, e.refused.fallback);
  }
}

const fromData = (e: ErrorData) => new TemplateError(e.code, e.message, { file: e.file, line: e.line, column: e.column, key: e.key });

/** Plain strings only: the worker gets a copy, and process.env is no plain object. */
function plainEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

class WorkerEngine implements IsolatedEngine {
  readonly #settings: WorkerSettings;
  readonly #budget: RenderBudget;
  readonly #answer: LookupAnswerer;
  #worker: Worker | undefined;
  /** Resolves when the worker has loaded (its 'ready'). */
  readonly #loaded = new WeakMap<Worker, Promise<void>>();
  #ids = 0;
  /** Renders run one after another: a stopped worker takes only its own render with it. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: IsolatedEngineOptions) {
    this.#budget = renderBudget(opts.budget);
    this.#settings = { templatesDir: opts.templatesDir, env: plainEnv(opts.env ?? {}), ...(opts.envNames ? { envNames: [...opts.envNames] } : {}), maxBytes: this.#budget.maxBytes };
    this.#answer = dnsAnswerer(opts.lookupTimeoutMs ?? 5000);
  }

  render(src: string, data: TemplateData, opts: RenderOptions = {}): Promise<string> {
    const run = this.#queue.then(() => this.#render(src, data, opts));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  reset(): void {
    this.#worker?.postMessage({ type: 'reset' } satisfies ToWorker);
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    await w?.terminate();
  }

  async #render(src: string, data: TemplateData, opts: RenderOptions): Promise<string> {
    opts.signal?.throwIfAborted();
    const values = opts.entries ? valuesByKey(data) : undefined;
    const request: RenderRequest = {
      type: 'render',
      id: ++this.#ids,
      src,
      data,
      ...(opts.entries ? { lastGood: lastGoodValues(values!, opts.entries), conflicts: conflictsOf(values!, opts.entries) } : {}),
      ...(opts.services ? { services: opts.services } : {}),
      ...(opts.catalog ? { catalog: true } : {}),
    };
    const outcome = await this.#exchange(this.#started(), request, opts.signal);
    replay(outcome.events, values, opts);
    if (outcome.type === 'failed') throw fromData(outcome.error);
    return outcome.text;
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(WORKER_URL, {
      workerData: this.#settings,
      // The worker needs no flags of the process (a test's loader), and none of its environment.
      execArgv: [],
      env: {},
      resourceLimits: { maxOldGenerationSizeMb: heapLimitMb(this.#budget.maxBytes) },
    });
    // An idle worker never keeps the process alive; a render in progress does, through its clock.
    w.unref();
    w.on('error', () => {}); // told to the render in progress, if any, by #exchange
    this.#loaded.set(w, new Promise<void>((ready) => w.on('message', (m: FromWorker) => m.type === 'ready' && ready())));
    w.once('exit', () => {
      if (this.#worker === w) this.#worker = undefined;
    });
    return (this.#worker = w);
  }

  #stopWorker(w: Worker): void {
    if (this.#worker === w) this.#worker = undefined;
    void w.terminate();
  }

  /** Send one render and wait for its outcome, answering its lookups; stop the worker at the deadline or a stop. */
  #exchange(w: Worker, request: RenderRequest, signal: AbortSignal | undefined): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const clock = new RenderClock(this.#budget.timeoutMs, () => fail(timedOut(this.#file(request.src), this.#budget.timeoutMs)));
      const starting = setTimeout(() => fail(new Error(`${this.#file(request.src)}: the render worker did not start within ${formatMs(WORKER_START_LIMIT_MS)}`)), WORKER_START_LIMIT_MS);
      const finish = () => {
        settled = true;
        clearTimeout(starting);
        clock.pause();
        w.off('message', onMessage).off('error', onError).off('exit', onExit);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: unknown) => {
        if (settled) return;
        finish();
        this.#stopWorker(w);
        reject(err);
      };
      const onMessage = (m: FromWorker) => {
        if (settled || m.id !== request.id) return;
        if (m.type !== 'lookups') {
          finish();
          return resolve(m);
        }
        clock.pause();
        this.#answer(m.ids, signal).then((answers) => {
          if (settled) return;
          w.postMessage({ type: 'answers', id: request.id, answers } satisfies ToWorker);
          clock.run();
        }, fail);
      };
      const onError = (err: Error) => fail(this.#crashed(request.src, err));
      const onExit = (code: number) => fail(new Error(`${this.#file(request.src)}: the render worker exited (code ${code})`));
      const onAbort = () => fail(signal!.reason);
      w.on('message', onMessage).on('error', onError).on('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      w.postMessage(request satisfies ToWorker);
      // The render's time runs from the worker's start of work, not from its thread's start.
      void this.#loaded.get(w)!.then(() => {
        if (settled) return;
        clearTimeout(starting);
        clock.run();
      });
    });
  }

  #file(src: string): string {
    return srcFileName(this.#settings.templatesDir, src);
  }

  #crashed(src: string, err: Error): Error {
    const file = this.#file(src);
    if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_OUT_OF_MEMORY') return new Error(`${file}: the render worker failed (${err.message})`, { cause: err });
    const heap = formatBytes(heapLimitMb(this.#budget.maxBytes) * MiB);
    return new TemplateError('TEMPLATE_TOO_LARGE', `${file}: rendering used more than ${heap} of memory (16 times the render size limit, --render-max-size); it was stopped`, { cause: err, file });
  }
}

/** A template engine whose renders run in a worker thread within a time and size budget. */
export function createIsolatedEngine(opts: IsolatedEngineOptions): IsolatedEngine {
  return new WorkerEngine(opts);
}
