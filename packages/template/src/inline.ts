// The engine for a process that renders once and exits (-onetime, plan, a push's trial render):
// templates render in this thread, each synchronous pass under the time left of the render's
// budget. A worker (isolated.ts) costs a second V8 isolate that loads Handlebars and compiles the
// templates again, ~0.1–0.3 s and ~17 MB, which such a process pays on every run; what the worker
// buys, a thread that answers /livez and signals while a template loops, only a long-lived process
// needs. The limit is held by node:vm's `timeout`, which stops whatever JavaScript runs in the
// isolate when it passes (the pass's own code and Handlebars', not only the vm's script). Size is
// held in the engine itself (budget.ts), as in the worker. Handlebars loads with the first render.
import { performance } from 'node:perf_hooks';
import { createContext, Script, type Context } from 'node:vm';
import { renderBudget, timedOut, type RenderBudget } from './budget.js';
import type { RenderOptions, TemplateData, TemplateEngine } from './engine.js';
import type { IsolatedEngine, IsolatedEngineOptions } from './isolated.js';
import { srcFileName } from './lookups.js';
import type { PassRunner } from './types.js';

const PASS = new Script('pass()', { filename: 'confd-haproxy:render-pass' });

/** The time one render has left, spent pass by pass; passes are synchronous, so renders share one context. */
class RenderDeadline {
  readonly #context: Context;
  #left: number;

  constructor(
    context: Context,
    readonly budget: RenderBudget,
    readonly file: string,
  ) {
    this.#context = context;
    this.#left = budget.timeoutMs;
  }

  readonly run: PassRunner = (pass) => {
    if (this.#left <= 0) throw timedOut(this.file, this.budget.timeoutMs);
    const since = performance.now();
    this.#context.pass = pass;
    try {
      PASS.runInContext(this.#context, { timeout: Math.max(1, Math.ceil(this.#left)) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw timedOut(this.file, this.budget.timeoutMs);
      throw err;
    } finally {
      this.#context.pass = undefined;
      this.#left -= performance.now() - since;
    }
  };
}

class InlineEngine implements IsolatedEngine {
  readonly #opts: IsolatedEngineOptions;
  readonly #budget: RenderBudget;
  #engine: Promise<TemplateEngine> | undefined;
  /** Made with the first render: a process that never renders in this thread never pays for it. */
  #context: Context | undefined;

  constructor(opts: IsolatedEngineOptions) {
    this.#opts = opts;
    this.#budget = renderBudget(opts.budget);
  }

  async render(src: string, data: TemplateData, opts: RenderOptions = {}): Promise<string> {
    const engine = await this.#started();
    this.#context ??= createContext({ pass: undefined as unknown });
    const deadline = new RenderDeadline(this.#context, this.#budget, srcFileName(this.#opts.templatesDir, src));
    return engine.render(src, data, { ...opts, runPass: deadline.run });
  }

  reset(): void {
    void this.#engine?.then((e) => e.reset());
  }

  async close(): Promise<void> {}

  #started(): Promise<TemplateEngine> {
    const { templatesDir, env, envNames, lookupTimeoutMs } = this.#opts;
    this.#engine ??= import('./engine.js').then((m) =>
      m.createTemplateEngine({ templatesDir, env: env ?? {}, ...(envNames ? { envNames } : {}), maxBytes: this.#budget.maxBytes, ...(lookupTimeoutMs !== undefined ? { lookupTimeoutMs } : {}) }),
    );
    return this.#engine;
  }
}

/** A template engine whose renders run in this thread, each within the render's time and size budget. */
export function createInlineEngine(opts: IsolatedEngineOptions): IsolatedEngine {
  return new InlineEngine(opts);
}
