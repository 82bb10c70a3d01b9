// Handlebars with confd's functions, no HTML escaping, and the config-injection guard (guard.ts).
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, isAbsolute, join } from 'node:path';
import Handlebars from 'handlebars';
import { checkGrowth, checkOutput, DEFAULT_RENDER_BUDGET, tooLarge } from './budget.js';
import { CatalogRefusal, TemplateError, TemplateProblem, toTemplateError, type TemplateLocation } from './errors.js';
import { escapeAllMustaches, GUARD_HELPER, guardedString, GuardedCompiler, partialReferences, Taint, type CatalogCollector, type GuardLocation } from './guard.js';
import { CONFD_HELPERS, EXTRA_HELPERS, type EntryRecovery, type Helper, type KVPairView, type LookupRequest, type RenderScope } from './helpers.js';
import { isGoTemplate } from './go-rule.js';
import { dnsAnswerer, templateFileName, type LookupAnswerer } from './lookups.js';
import { SERVICE_HELPERS, withoutItems, type ServiceData } from './service.js';
import { callPass, type PassRunner } from './types.js';

const ALL_HELPERS: Readonly<Record<string, Helper>> = { ...CONFD_HELPERS, ...EXTRA_HELPERS, ...SERVICE_HELPERS };

/** One KV pair as the renderer hands it over: keys start with "/" (a missing one is added). */
export interface TemplatePair {
  key: string;
  value: string;
}
export type TemplateData = readonly TemplatePair[];

export interface TemplateEngineOptions {
  /** Holds the templates; every file under `<templatesDir>/partials/` is a partial named by its basename. */
  templatesDir: string;
  /** For `getenv` (the engine never reads process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** When given, `getenv` reads only these names of `env` and fails naming any other. */
  envNames?: readonly string[];
  /** For `datetime`. */
  now?: () => Date;
  /** Per DNS lookup (lookupIP*, lookupSRV); a lookup that times out answers an empty list. Default 5000. */
  lookupTimeoutMs?: number;
  /** How many bytes one render may produce (budget.ts). Default 64 MiB. */
  maxBytes?: number;
  /** Who answers a pass's DNS lookups (the isolated engine's worker asks its host). Default: DNS, here. */
  answerLookups?: LookupAnswerer;
}

/** Answers the lookups a pass asked for (ids are JSON LookupRequests); a lookup that failed answers []. */

export interface RenderOptions {
  /** Aborts waiting for DNS lookups between passes; the isolated engine also stops the render itself. */
  signal?: AbortSignal;
  /** With it, a bad value read through `entry` costs only that entry (its last good value, or nothing). */
  entries?: EntryRecovery;
  /** The catalog data of the resource's declared services, for `service` and `services`. */
  services?: ServiceData;
  /** With it, a catalog string the guard refuses costs only its instance (or listed service), not the render. */
  catalog?: CatalogRecovery;
  /** How each synchronous pass of this render runs (default: called as is); the inline engine holds the time limit with it. */
  runPass?: PassRunner;
}

/** How a refused catalog string costs only its item: the render runs again without it, and the caller is told. */
export interface CatalogRecovery {
  /** `key` (an instance's or a listed service's) was left out; `message` says where and why. */
  refused(key: string, message: string): void;
}

export interface TemplateEngine {
  /** Render `src` (relative to templatesDir, or absolute) over the KV pairs. Rejects with a TemplateError. */
  render(src: string, data: TemplateData, opts?: RenderOptions): Promise<string>;
  /** Forget compiled templates and partials: the next render re-reads them (hot reload). */
  reset(): void;
}

/** Passes of a render that uses DNS lookups: each pass may ask for names the previous answers revealed. */
const MAX_PASSES = 4;
/** Renders of one template, each without the catalog items the one before refused (more are needed only by a template that prints a bad item's replacement). */
const MAX_CATALOG_ROUNDS = 5;
/** Helpers whose block form only ever returns the output of their own block bodies. */
const BLOCK_HELPERS = new Set(['each', 'if', 'unless', 'with', 'blockHelperMissing', 'helperMissing']);

type HbLoc = { source?: string; start?: { line: number; column: number } } | undefined;
type HbOptions = { fn?: unknown; name?: string; loc?: HbLoc };
type HbBlock = (context: unknown, options?: unknown) => string;
type HbRuntime = { invokePartial(this: unknown, partial: unknown, context: unknown, options: unknown): unknown };
type Compiled = (context: unknown) => string;

const locOf = (loc: HbLoc): TemplateLocation | undefined =>
  loc?.start ? { file: loc.source || undefined, line: loc.start.line, column: loc.start.column } : undefined;

function located(err: unknown, loc: HbLoc, helper: string): TemplateProblem {
  if (err instanceof TemplateProblem) {
    err.at ??= locOf(loc);
    return err;
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new TemplateProblem('TEMPLATE_HELPER', `${helper}: ${msg}`, { cause: err, at: locOf(loc) });
}

/** Handlebars' own errors (parse, compile, runtime) as problems with a location when it gives one. */
function fromHandlebars(err: unknown, file: string, phase: 'compile' | 'run'): TemplateProblem {
  if (err instanceof TemplateProblem) return err;
  const e = err as { message?: string; lineNumber?: number; column?: number; hash?: { loc?: { first_line?: number } } };
  const msg = String(e?.message ?? err).split('\n').filter(Boolean).join(' ');
  const line = e?.lineNumber ?? e?.hash?.loc?.first_line ?? Number(/on line (\d+)/.exec(msg)?.[1] ?? NaN);
  const at: TemplateLocation = { file, line: Number.isFinite(line) ? line : undefined, column: Number.isFinite(line) ? e?.column : undefined };
  if (/^The partial .* could not be found/.test(msg)) return new TemplateProblem('TEMPLATE_PARTIAL', `${msg} (partials live in templates/partials/)`, { cause: err, at });
  if (phase === 'compile') return new TemplateProblem('TEMPLATE_SYNTAX', msg, { cause: err, at });
  return new TemplateProblem('TEMPLATE_HELPER', msg, { cause: err, at });
}

async function listFiles(dir: string, depth = 0): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const d of entries) {
    // Editor leftovers (.x.swp, x~) are not partials.
    if (d.name.startsWith('.') || d.name.endsWith('~')) continue;
    const p = join(dir, d.name);
    if (d.isDirectory() && depth < 8) out.push(...(await listFiles(p, depth + 1)));
    else if (d.isFile()) out.push(p);
  }
  return out.sort();
}

// Here before the move to lookups.ts; still exported from here for existing importers.
export { dnsAnswerer, templateFileName, type LookupAnswerer };

export function createTemplateEngine(opts: TemplateEngineOptions): TemplateEngine {
  const templatesDir = opts.templatesDir;
  const envNames = opts.envNames ? new Set(opts.envNames) : undefined;
  // Only the names a template may read are kept at all.
  const env = envNames ? Object.fromEntries(Object.entries(opts.env ?? {}).filter(([k]) => envNames.has(k))) : (opts.env ?? {});
  const now = opts.now ?? (() => new Date());
  const maxBytes = opts.maxBytes ?? DEFAULT_RENDER_BUDGET.maxBytes;
  const answerLookups = opts.answerLookups ?? dnsAnswerer(opts.lookupTimeoutMs ?? 5000);

  const hb = Handlebars.create();
  (hb as unknown as { JavaScriptCompiler: unknown }).JavaScriptCompiler = GuardedCompiler;

  // What the helpers of the pass in progress read; passes run synchronously, so one slot suffices.
  let active: { scope: RenderScope; taint: Taint; collect?: CatalogCollector } | undefined;
  const current = (): RenderScope => {
    if (!active) throw new TemplateProblem('TEMPLATE_HELPER', 'a template function was called outside a render');
    return active.scope;
  };

  const notABlock = (name: string, options: HbOptions) =>
    new TemplateProblem('TEMPLATE_HELPER', `${name} is not a block helper: write {{${name} ...}}, or use it in a subexpression such as {{#with (${name} ...)}}`, {
      at: locOf(options.loc),
    });

  const wrap = (name: string, impl: Helper) =>
    function helper(this: unknown, ...all: unknown[]): unknown {
      const options = (all[all.length - 1] ?? {}) as HbOptions;
      if (typeof options.fn === 'function') throw notABlock(name, options);
      try {
        const out = impl(current(), all.slice(0, -1), this);
        if (typeof out === 'string') checkGrowth(out, maxBytes);
        return out;
      } catch (err) {
        throw located(err, options.loc, name);
      }
    };
  for (const [name, impl] of Object.entries(ALL_HELPERS)) hb.registerHelper(name, wrap(name, impl));

  // Output multiplies only in loops and partials: each stops at the size limit as it grows.
  const each = hb.helpers.each as (this: unknown, context: unknown, options: HbOptions) => string;
  hb.registerHelper('each', function (this: unknown, context: unknown, options: HbOptions) {
    if (typeof options?.fn !== 'function') return each.call(this, context, options);
    const body = options.fn as HbBlock;
    let grown = 0;
    const bounded: HbBlock = (ctx, o) => {
      const out = body(ctx, o);
      grown += out.length;
      if (grown > maxBytes) throw tooLarge(maxBytes);
      return out;
    };
    try {
      return each.call(this, context, { ...options, fn: bounded });
    } catch (err) {
      throw err instanceof TemplateProblem ? located(err, options.loc, 'each') : err;
    }
  });
  const runtime = (hb as unknown as { VM: HbRuntime }).VM;
  (hb as unknown as { VM: HbRuntime }).VM = {
    ...runtime,
    invokePartial(this: unknown, partial, context, options) {
      const out = runtime.invokePartial.call(this, partial, context, options);
      if (typeof out === 'string') checkGrowth(out, maxBytes);
      return out;
    },
  };

  // Built-ins that could hand a raw value to the output in block form: keep them, refuse the block form.
  for (const [name, builtin] of Object.entries(hb.helpers)) {
    if (BLOCK_HELPERS.has(name) || name in ALL_HELPERS) continue;
    hb.registerHelper(name, function (this: unknown, ...all: unknown[]) {
      const options = (all[all.length - 1] ?? {}) as HbOptions;
      if (typeof options.fn === 'function') throw notABlock(name, options);
      return (builtin as (...a: unknown[]) => unknown).apply(this, all);
    });
  }
  hb.registerHelper('helperMissing', function (...all: unknown[]) {
    const options = (all[all.length - 1] ?? {}) as HbOptions;
    if (all.length === 1) return undefined; // {{name}} that is neither a helper nor a field: empty, as Handlebars
    throw new TemplateProblem('TEMPLATE_HELPER', `unknown template function "${options.name ?? '?'}"`, { at: locOf(options.loc) });
  });
  hb.registerHelper(GUARD_HELPER, (value: unknown, at: GuardLocation) => guardedString(value, at, active?.taint, active?.collect));

  // Caches, dropped by reset(); `generation` keeps a load that straddles a reset from repopulating them.
  let generation = 0;
  let partials: Promise<Set<string>> | undefined;
  const compiled = new Map<string, { fn: Compiled; file: string }>();

  const fileName = (path: string): string => templateFileName(templatesDir, path);

  const compile = (text: string, file: string): { fn: Compiled; refs: ReturnType<typeof partialReferences> } => {
    try {
      const ast = hb.parse(text, { srcName: file });
      escapeAllMustaches(ast);
      const options = { data: true, preventIndent: true };
      // What Handlebars.compile does lazily, done now so syntax errors surface at load.
      const h = hb as unknown as {
        Compiler: new () => { compile(ast: unknown, o: unknown): unknown };
        JavaScriptCompiler: new () => { compile(env: unknown, o: unknown, ctx: unknown, asObject: boolean): unknown };
        template(spec: unknown): Compiled;
      };
      const environment = new h.Compiler().compile(ast, options);
      const spec = new h.JavaScriptCompiler().compile(environment, options, undefined, true);
      return { fn: h.template(spec), refs: partialReferences(ast) };
    } catch (err) {
      throw fromHandlebars(err, file, 'compile');
    }
  };

  const checkPartials = (refs: ReturnType<typeof partialReferences>, known: Set<string>): void => {
    for (const r of refs.used) {
      if (!known.has(r.name) && !refs.inline.has(r.name)) {
        throw new TemplateProblem('TEMPLATE_PARTIAL', `partial "${r.name}" not found (partials live in templates/partials/, named by file basename)`, { at: r.at });
      }
    }
  };

  const loadPartials = async (gen: number): Promise<Set<string>> => {
    const dir = join(templatesDir, 'partials');
    const loaded = new Map<string, { fn: Compiled; file: string; refs: ReturnType<typeof partialReferences> }>();
    for (const path of await listFiles(dir)) {
      const file = fileName(path);
      const name = basename(path, extname(path));
      const prev = loaded.get(name);
      if (prev) throw new TemplateProblem('TEMPLATE_PARTIAL', `partial "${name}" is defined twice (${prev.file} and ${file})`, { at: { file } });
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw new TemplateProblem('TEMPLATE_PARTIAL', `cannot read the partial (${(err as Error).message})`, { cause: err, at: { file } });
      }
      loaded.set(name, { ...compile(text, file), file });
    }
    const names = new Set(loaded.keys());
    for (const p of loaded.values()) checkPartials(p.refs, names);
    if (gen === generation) {
      for (const name of Object.keys(hb.partials)) hb.unregisterPartial(name);
      for (const [name, p] of loaded) hb.registerPartial(name, p.fn as unknown as Handlebars.Template);
    }
    return names;
  };

  const load = async (src: string): Promise<{ fn: Compiled; file: string }> => {
    const gen = generation;
    if (!partials) {
      const loading = loadPartials(gen);
      partials = loading;
      loading.catch(() => {
        if (partials === loading) partials = undefined;
      });
    }
    const known = await partials;
    const path = isAbsolute(src) ? src : join(templatesDir, src);
    const hit = compiled.get(path);
    if (hit) return hit;
    const file = fileName(path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new TemplateProblem('TEMPLATE_NOT_FOUND', `cannot read the template (${(err as Error).message})`, { cause: err, at: { file } });
    }
    const c = compile(text, file);
    checkPartials(c.refs, known);
    const entry = { fn: c.fn, file };
    if (gen === generation) compiled.set(path, entry);
    return entry;
  };

  const view = (data: TemplateData) => {
    const byKey = new Map<string, string>();
    for (const p of data) byKey.set(p.key.startsWith('/') ? p.key : `/${p.key}`, p.value);
    const pairs: KVPairView[] = [...byKey].map(([Key, Value]) => ({ Key, Value }));
    pairs.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
    const taint = new Taint();
    for (const p of pairs) taint.add(p.Value, p.Key);
    let keyByValue: Map<string, string> | undefined;
    const keyOfValue = (value: string) => {
      if (!keyByValue) {
        keyByValue = new Map();
        for (const p of pairs) if (!keyByValue.has(p.Value)) keyByValue.set(p.Value, p.Key);
      }
      return keyByValue.get(value);
    };
    return { pairs, byKey, taint, keyOfValue };
  };

  const engine: TemplateEngine = {
    reset() {
      generation++;
      partials = undefined;
      compiled.clear();
      for (const name of Object.keys(hb.partials)) hb.unregisterPartial(name);
    },

    async render(src, data, renderOpts = {}) {
      const fallbackFile = isAbsolute(src) ? fileName(src) : src;
      try {
        const { fn, file } = await load(src);
        const v = view(data);
        const lookups = new Map<string, unknown>();
        for (let pass = 1; ; pass++) {
          const wanted = new Set<string>();
          const scope: RenderScope = {
            pairs: v.pairs,
            byKey: v.byKey,
            env,
            ...(envNames ? { envNames } : {}),
            now,
            lookups,
            wanted,
            keyOfValue: v.keyOfValue,
            taint: (x, key) => v.taint.addParsed(x, key),
            taintCatalog: (text, source) => v.taint.addCatalog(text, source),
            ...(renderOpts.entries ? { entries: renderOpts.entries } : {}),
            ...(renderOpts.services ? { services: renderOpts.services } : {}),
          };
          let out: string | undefined;
          let failure: TemplateProblem | undefined;
          // Catalog strings are remembered per pass: the data may have lost items since the last render.
          v.taint.clearCatalog();
          const refused = new Map<string, string>();
          const collect: CatalogCollector = (p) => void (refused.has(p.key) || refused.set(p.key, toTemplateError(p, file).message));
          active = { scope, taint: v.taint, ...(renderOpts.catalog && renderOpts.services ? { collect } : {}) };
          try {
            (renderOpts.runPass ?? callPass)(() => {
              try {
                out = fn({});
              } catch (err) {
                failure = fromHandlebars(err, file, 'run');
              }
            });
          } finally {
            // Here, not in the pass: a pass stopped at its time limit runs none of its own finally blocks.
            active = undefined;
          }
          // A pass that failed before its lookups were answered may succeed once they are.
          if (wanted.size === 0 || pass >= MAX_PASSES) {
            if (failure) throw failure;
            if (wanted.size) {
              throw new TemplateProblem('TEMPLATE_HELPER', `DNS lookups still unanswered after ${MAX_PASSES} passes: ${[...wanted].map((w) => (JSON.parse(w) as LookupRequest).name).join(', ')}`, { at: { file } });
            }
            if (refused.size) throw new CatalogRefusal(refused);
            checkOutput(out!, maxBytes);
            return out!;
          }
          for (const [id, answer] of await answerLookups([...wanted], renderOpts.signal)) lookups.set(id, answer);
        }
      } catch (err) {
        if (err instanceof TemplateProblem) throw toTemplateError(err, fallbackFile);
        if (err instanceof TemplateError || renderOpts.signal?.aborted) throw err;
        throw new TemplateError('TEMPLATE_HELPER', `${fallbackFile}: ${(err as Error)?.message ?? String(err)}`, { cause: err, file: fallbackFile });
      }
    },
  };
  // The Go engine loads with the first Go template: a Handlebars-only renderer (and its worker) never pays for it.
  let goEngine: Promise<import('./go-engine.js').GoEngine> | undefined;
  const go = () => (goEngine ??= import('./go-engine.js').then((m) => m.createGoEngine({ templatesDir, fileName, env, envNames, now, maxBytes, answerLookups, maxPasses: MAX_PASSES })));
  return {
    reset: () => {
      engine.reset();
      void goEngine?.then((g) => g.reset());
    },
    render: async (src, data, renderOpts = {}) => (isGoTemplate(src) ? (await go()).render(src, data, renderOpts) : renderLeavingOut(engine, src, data, renderOpts)),
  };
}

/** A render whose refused catalog items are left out: it runs again without them, each told to `opts.catalog`. */
async function renderLeavingOut(engine: TemplateEngine, src: string, data: TemplateData, opts: RenderOptions): Promise<string> {
  let services = opts.services;
  for (let round = 1; ; round++) {
    try {
      return await engine.render(src, data, { ...opts, ...(services ? { services } : {}) });
    } catch (err) {
      if (!(err instanceof CatalogRefusal) || !opts.catalog || !services || round >= MAX_CATALOG_ROUNDS) throw err;
      for (const [key, message] of err.refused) opts.catalog.refused(key, message);
      services = withoutItems(services, new Set(err.refused.keys()));
    }
  }
}
