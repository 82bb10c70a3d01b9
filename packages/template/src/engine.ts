// Handlebars with confd's functions, no HTML escaping, and a config-injection guard: every
// {{expression}} (triple-stash included) passes through one function that refuses CR, LF and NUL.
import { lookup as dnsLookup, resolveSrv } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative } from 'node:path';
import Handlebars from 'handlebars';
import { TemplateError } from './errors.js';
import { makeHelpers, type KVPairView, type RenderScope } from './helpers.js';

export interface TemplatePair {
  key: string;
  value: string;
}

export interface TemplateEngineOptions {
  /** Holds the templates and `partials/`. */
  templatesDir: string;
  /** For `getenv`. */
  env?: Record<string, string | undefined>;
  now?: () => Date;
}

export interface TemplateEngine {
  /** Render `src` (relative to templatesDir, or absolute) over KV pairs whose keys start with "/". */
  render(src: string, data: readonly TemplatePair[]): Promise<string>;
  /** Forget compiled templates and partials (they are re-read on the next render). */
  reset(): void;
}

const DANGER = /[\r\n\0]/;
const MAX_LOOKUP_PASSES = 3;

// Handlebars' compiled code calls Utils.escapeExpression for every escaped mustache; we make every
// mustache escaped (see markEscaped) and route the call to the guard of the render in progress.
type Guard = (value: unknown) => string;
let activeGuard: Guard | undefined;
const utils = Handlebars.Utils as unknown as { escapeExpression: (v: unknown) => string };
const originalEscape = utils.escapeExpression;
utils.escapeExpression = (v: unknown) => (activeGuard ? activeGuard(v) : originalEscape(v));

/** Turn every {{{raw}}} into {{escaped}} so no output can bypass the guard. */
function markEscaped(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) markEscaped(n);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.type === 'MustacheStatement') o.escaped = true;
  for (const [k, v] of Object.entries(o)) if (k !== 'loc' && typeof v === 'object') markEscaped(v);
}

function classify(err: unknown, file: string): TemplateError {
  if (err instanceof TemplateError) return new TemplateError(err.code, `${file}: ${err.message}`, { cause: err.cause ?? err });
  const msg = err instanceof Error ? err.message : String(err);
  if (/^Missing helper/.test(msg)) return new TemplateError('TEMPLATE_HELPER', `${file}: ${msg} (not a known template function)`, { cause: err });
  if (/partial .* could not be found/.test(msg)) return new TemplateError('TEMPLATE_PARTIAL', `${file}: ${msg} (partials live in templates/partials/)`, { cause: err });
  if (/Parse error|Expecting|doesn't match/.test(msg)) return new TemplateError('TEMPLATE_SYNTAX', `${file}: ${msg.split('\n').filter(Boolean).join(' ')}`, { cause: err });
  return new TemplateError('TEMPLATE_HELPER', `${file}: ${msg}`, { cause: err });
}

export function createTemplateEngine(opts: TemplateEngineOptions): TemplateEngine {
  const hb = Handlebars.create();
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  let partialsLoaded: Promise<void> | undefined;
  let scope: RenderScope | undefined;
  const current = () => {
    if (!scope) throw new TemplateError('TEMPLATE_HELPER', 'a template function was called outside a render');
    return scope;
  };
  hb.registerHelper(makeHelpers(current) as Record<string, Handlebars.HelperDelegate>);

  const compile = (text: string, file: string): HandlebarsTemplateDelegate => {
    try {
      const ast = hb.parse(text);
      markEscaped(ast);
      const fn = hb.compile(ast as unknown as string, { noEscape: false, strict: false, preventIndent: true });
      return fn;
    } catch (err) {
      throw classify(err, file);
    }
  };

  const loadPartials = async () => {
    const dir = join(opts.templatesDir, 'partials');
    if (!existsSync(dir)) return;
    for (const name of (await readdir(dir)).sort()) {
      const file = join(dir, name);
      const fn = compile(await readFile(file, 'utf8'), relative(opts.templatesDir, file));
      hb.registerPartial(basename(name, extname(name)), fn as unknown as Handlebars.Template);
    }
  };

  const template = async (src: string): Promise<{ fn: HandlebarsTemplateDelegate; file: string }> => {
    const path = isAbsolute(src) ? src : join(opts.templatesDir, src);
    const file = relative(opts.templatesDir, path).startsWith('..') ? path : relative(opts.templatesDir, path);
    let fn = compiled.get(path);
    if (!fn) {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw new TemplateError('TEMPLATE_NOT_FOUND', `${file}: cannot read the template (${(err as Error).message})`, { cause: err });
      }
      fn = compile(text, file);
      compiled.set(path, fn);
    }
    return { fn, file };
  };

  const resolveLookups = async (wanted: Set<string>, into: Map<string, unknown>) => {
    await Promise.all(
      [...wanted].map(async (id) => {
        const [kind, name] = JSON.parse(id) as [string, string];
        try {
          if (kind === 'srv') {
            const recs = await resolveSrv(name);
            into.set(id, recs.map((r) => ({ Target: r.name, Port: r.port, Priority: r.priority, Weight: r.weight })).sort((a, b) => (a.Target < b.Target ? -1 : 1)));
          } else {
            const family = kind === 'ip4' ? 4 : kind === 'ip6' ? 6 : 0;
            const addrs = await dnsLookup(name, { all: true, family });
            into.set(id, [...new Set(addrs.map((a) => a.address))].sort());
          }
        } catch {
          into.set(id, []);
        }
      }),
    );
  };

  return {
    reset() {
      compiled.clear();
      partialsLoaded = undefined;
      for (const name of Object.keys(hb.partials)) hb.unregisterPartial(name);
    },

    async render(src, data) {
      partialsLoaded ??= loadPartials().catch((err: unknown) => {
        partialsLoaded = undefined;
        throw err;
      });
      await partialsLoaded;
      const { fn, file } = await template(src);
      const pairs: KVPairView[] = data.map((p) => ({ Key: p.key.startsWith('/') ? p.key : `/${p.key}`, Value: p.value }));
      pairs.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
      const byKey = new Map(pairs.map((p) => [p.Key, p.Value]));
      let valueKeys: Map<string, string> | undefined;
      const tainted: { text: string; key: string }[] = [];
      for (const p of pairs) if (DANGER.test(p.Value)) tainted.push({ text: p.Value, key: p.Key });
      const taint = (v: unknown, key: string, depth = 0): void => {
        if (depth > 64) return;
        if (typeof v === 'string') {
          if (DANGER.test(v)) tainted.push({ text: v, key });
        } else if (v && typeof v === 'object') for (const x of Object.values(v)) taint(x, key, depth + 1);
      };
      const lookups = new Map<string, unknown>();
      const guard: Guard = (v) => {
        if (v == null) return '';
        const s = typeof (v as { toHTML?: unknown }).toHTML === 'function' ? String((v as { toHTML: () => unknown }).toHTML()) : String(v);
        if (!DANGER.test(s)) return s;
        const low = s.toLowerCase();
        const hit = tainted.find((t) => low.includes(t.text.toLowerCase()) || t.text.toLowerCase().split(DANGER).some((seg) => seg.length > 0 && low.includes(seg)));
        const what = hit ? `the value of ${hit.key}` : 'an interpolated value';
        throw new TemplateError('TEMPLATE_INJECTION', `${what} holds a CR, LF or NUL character: rendering it would inject configuration lines (${JSON.stringify(s.slice(0, 80))}); nothing was written`);
      };
      for (let pass = 0; ; pass++) {
        const wanted = new Set<string>();
        scope = {
          pairs,
          byKey,
          env: opts.env ?? {},
          now: opts.now ?? (() => new Date()),
          lookups,
          wanted,
          taint,
          keyOfValue: (value) => {
            valueKeys ??= new Map(pairs.map((p) => [p.Value, p.Key]).reverse() as [string, string][]);
            return valueKeys.get(value);
          },
        };
        let out: string;
        activeGuard = guard;
        try {
          out = fn({}, { allowProtoPropertiesByDefault: false });
        } catch (err) {
          throw classify(err, file);
        } finally {
          activeGuard = undefined;
          scope = undefined;
        }
        if (wanted.size === 0 || pass + 1 >= MAX_LOOKUP_PASSES) return out;
        await resolveLookups(wanted, lookups);
      }
    },
  };
}
