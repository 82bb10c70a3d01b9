// The config-injection guard. Every {{mustache}} (triple-stash and {{& }} included, since the AST
// pass marks them all escaped) compiles to a call of one guard function instead of Handlebars'
// HTML escaper; helpers that could return raw text from a block ({{#getv}}, {{#lookup}}, raw
// blocks) are refused by the engine. So the only text that reaches the output unguarded is text
// written in the template files themselves. Catalog strings are data, never words: one that holds
// a character HAProxy would read as syntax (WORD_DANGER) is refused where it would be written.
import Handlebars from 'handlebars';
import { TemplateProblem, type TemplateLocation } from './errors.js';
import type { CatalogSource } from './types.js';

/** The helper name the compiled code calls; it cannot be written as a template identifier. */
export const GUARD_HELPER = '\u0000guard';

export const DANGER = /[\r\n\0]/;

/**
 * What a catalog string must not bring into haproxy.cfg: whitespace and control characters (they end
 * a word or a line), '#' (a comment), quotes and '\\' (HAProxy's quoting), '$' ("$NAME" and "${NAME}"
 * expand the environment inside double quotes) and '%' (log-format's %[env(NAME)]). Holds DANGER.
 */
export const WORD_DANGER = /[\s\0-\x1f\x7f#'"`\\$%]/;

interface CompilerSource {
  currentLocation?: { source?: string; start?: { line: number; column: number } };
}
interface JavaScriptCompilerLike {
  source: CompilerSource;
  pushSource(src: unknown): void;
  appendToBuffer(src: unknown[]): unknown;
  popStack(): unknown;
  quotedString(s: string): string;
}
type CompilerCtor = new () => JavaScriptCompilerLike;

const Base = (Handlebars as unknown as { JavaScriptCompiler: CompilerCtor }).JavaScriptCompiler;
if (typeof Base?.prototype?.['appendEscaped' as keyof JavaScriptCompilerLike] !== 'function') {
  // Fail loudly at import if a Handlebars upgrade moves the hook the guard depends on.
  throw new Error('@confd-haproxy/template: this Handlebars version has no JavaScriptCompiler.appendEscaped; the injection guard cannot be installed');
}

const REGISTER = 'guardValue';

/**
 * Emits, where Handlebars would emit `escapeExpression(value)`: numbers and strings free of
 * WORD_DANGER as they are (the common case, inline for speed), anything else through
 * `helpers[GUARD](value, {f, l, c})`.
 */
export class GuardedCompiler extends Base {
  appendEscaped(this: JavaScriptCompilerLike & { useRegister(name: string): void }): void {
    const loc = this.source.currentLocation;
    const at = JSON.stringify({ f: loc?.source ?? '', l: loc?.start?.line ?? 0, c: loc?.start?.column ?? 0 });
    this.useRegister(REGISTER);
    const r = REGISTER;
    this.pushSource(
      this.appendToBuffer([
        `((${r} = `,
        this.popStack(),
        `), typeof ${r} === "number" ? "" + ${r} : typeof ${r} === "string" && !${String(WORD_DANGER)}.test(${r}) ? ${r} : helpers[`,
        this.quotedString(GUARD_HELPER),
        `](${r}, ${at}))`,
      ]),
    );
  }
}
// Child programs (block bodies, inline partials) are compiled by `new this.compiler()`.
(GuardedCompiler.prototype as unknown as { compiler: unknown }).compiler = GuardedCompiler;

/** Mark every mustache escaped, so {{{x}}} and {{& x}} go through the guard too. */
export function escapeAllMustaches(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) escapeAllMustaches(n);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.type === 'MustacheStatement') o.escaped = true;
  for (const [k, v] of Object.entries(o)) if (k !== 'loc' && v && typeof v === 'object') escapeAllMustaches(v);
}

/** Static `{{> name}}` references (not partial blocks, which have a fallback) and inline partial names. */
export function partialReferences(node: unknown, out = { used: [] as { name: string; at: TemplateLocation }[], inline: new Set<string>() }) {
  if (Array.isArray(node)) {
    for (const n of node) partialReferences(n, out);
    return out;
  }
  if (!node || typeof node !== 'object') return out;
  const o = node as Record<string, unknown> & { loc?: { source?: string; start?: { line: number; column: number } } };
  const name = o.name as { type?: string; original?: unknown } | undefined;
  if (o.type === 'PartialStatement' && name?.type === 'PathExpression' && typeof name.original === 'string') {
    out.used.push({ name: name.original, at: { file: o.loc?.source, line: o.loc?.start?.line, column: o.loc?.start?.column } });
  }
  const path = o.path as { original?: unknown } | undefined;
  const params = o.params as { type?: string; value?: unknown }[] | undefined;
  if (o.type === 'DecoratorBlock' && path?.original === 'inline' && typeof params?.[0]?.value === 'string') out.inline.add(params[0].value);
  for (const [k, v] of Object.entries(o)) if (k !== 'loc' && v && typeof v === 'object') partialReferences(v, out);
  return out;
}

const charName = (s: string): string => {
  const names = [...new Set([...s].filter((c) => DANGER.test(c)).map((c) => (c === '\r' ? 'CR' : c === '\n' ? 'LF' : 'NUL')))];
  return names.join(' and ');
};

/** The value a map holds for the longest of its texts found in `output` (as it is, or in other case). */
function longestIn<T>(texts: ReadonlyMap<string, T>, output: string): T | undefined {
  let best: { text: string; value: T } | undefined;
  const low = output.toLowerCase();
  for (const [text, value] of texts) {
    if ((output.includes(text) || low.includes(text.toLowerCase())) && (!best || text.length > best.text.length)) best = { text, value };
  }
  return best?.value;
}

export type { CatalogSource } from './types.js';

/**
 * Strings from the KV data that hold CR, LF or NUL, with the key each came from; and catalog
 * strings that hold any WORD_DANGER, with their source.
 */
export class Taint {
  readonly #byText = new Map<string, string>();
  /** Text → every item and field holding it (the guard cannot tell which of them was written). */
  readonly #catalog = new Map<string, { text: string; sources: CatalogSource[] }>();
  add(text: string, key: string): void {
    if (DANGER.test(text) && !this.#byText.has(text)) this.#byText.set(text, key);
  }
  /** Every string (values and object keys) inside a parsed value. */
  addParsed(v: unknown, key: string, depth = 0): void {
    if (depth > 100) return;
    if (typeof v === 'string') this.add(v, key);
    else if (Array.isArray(v)) for (const x of v) this.addParsed(x, key, depth + 1);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        this.add(k, key);
        this.addParsed(x, key, depth + 1);
      }
    }
  }
  /** A string of the catalog; only one HAProxy would not read as one word is kept. */
  addCatalog(text: string, source: CatalogSource): void {
    if (!WORD_DANGER.test(text)) return;
    const known = this.#catalog.get(text);
    if (!known) this.#catalog.set(text, { text, sources: [source] });
    else if (!known.sources.some((s) => s.key === source.key && s.label === source.label)) known.sources.push(source);
  }
  /** Forget the catalog strings: a pass remembers those of the data it renders. */
  clearCatalog(): void {
    this.#catalog.clear();
  }
  /** The key the output most likely came from: a KV string it contains (longest first). */
  keyFor(output: string): string | undefined {
    return longestIn(this.#byText, output);
  }
  /** The catalog string the output contains (longest first), with its sources. */
  catalogFor(output: string): { text: string; sources: CatalogSource[] } | undefined {
    return this.#catalog.size ? longestIn(this.#catalog, output) : undefined;
  }
  keys(): string[] {
    return [...new Set(this.#byText.values())].sort();
  }
}

export interface GuardLocation {
  f: string;
  l: number;
  c: number;
}

/** Takes a refused catalog string instead of failing the render: the caller renders again without its item. */
export type CatalogCollector = (problem: TemplateProblem & { key: string }) => void;

const snippetOf = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
const whereOf = (at: GuardLocation): TemplateLocation => ({ file: at.f || undefined, line: at.l || undefined, column: at.l ? at.c : undefined });

/** "whitespace, '#' and a quote": what in `text` HAProxy would read as syntax. */
function syntaxIn(text: string): string {
  const kinds: [RegExp, string][] = [
    [/[\s\0-\x1f\x7f]/, 'whitespace or control characters'],
    [/#/, "'#'"],
    [/['"`]/, 'a quote'],
    [/\\/, 'a backslash'],
    [/\$/, "'$'"],
    [/%/, "'%'"],
  ];
  const found = kinds.filter(([re]) => re.test(text)).map(([, name]) => name);
  return found.length > 1 ? `${found.slice(0, -1).join(', ')} and ${found[found.length - 1]}` : (found[0] ?? '');
}

/** A catalog string about to be written: refused, naming its item and field (each of them, when several hold it). */
function refuseCatalog(found: { text: string; sources: CatalogSource[] }, at: GuardLocation, collect: CatalogCollector | undefined): string {
  const problems = found.sources.map(
    (source) =>
      new TemplateProblem(
        'TEMPLATE_INJECTION',
        `${source.label} ${snippetOf(found.text)} holds ${syntaxIn(found.text)}: HAProxy would not read it as one word` + (collect ? '' : '; nothing was rendered'),
        { key: source.key, at: whereOf(at) },
      ) as TemplateProblem & { key: string },
  );
  if (!collect) throw problems[0];
  for (const p of problems) collect(p);
  return '';
}

/**
 * What {{value}} writes: its string form; a TEMPLATE_INJECTION problem if it holds CR, LF or NUL,
 * or a catalog string that holds WORD_DANGER (given to `collect` when there is one).
 */
export function guardedString(value: unknown, at: GuardLocation, taint: Taint | undefined, collect?: CatalogCollector): string {
  if (value == null) return '';
  const s = typeof (value as { toHTML?: unknown }).toHTML === 'function' ? String((value as { toHTML: () => unknown }).toHTML()) : String(value);
  if (!WORD_DANGER.test(s)) return s;
  const catalog = taint?.catalogFor(s);
  if (catalog) return refuseCatalog(catalog, at, collect);
  if (!DANGER.test(s)) return s;
  const key = taint?.keyFor(s);
  const snippet = snippetOf(s);
  const where = whereOf(at);
  if (key !== undefined) {
    throw new TemplateProblem(
      'TEMPLATE_INJECTION',
      `the value of ${key} holds ${charName(s)}: writing it would inject configuration lines (${snippet}); nothing was rendered`,
      { key, at: where },
    );
  }
  const suspects = taint?.keys() ?? [];
  throw new TemplateProblem(
    'TEMPLATE_INJECTION',
    `an interpolated value holds ${charName(s)}: writing it would inject configuration lines (${snippet}); nothing was rendered` +
      (suspects.length ? ` (keys holding CR, LF or NUL: ${suspects.slice(0, 5).join(', ')}${suspects.length > 5 ? ', ...' : ''})` : ''),
    { key: suspects.length === 1 ? suspects[0] : undefined, at: where },
  );
}
