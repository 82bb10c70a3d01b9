// confd's template functions, as plain functions of the render scope and their arguments. The
// engine wraps them for Handlebars (drops the trailing options object, refuses block use).
import { existsSync } from 'node:fs';
import { entryProblem, ownerProblem, type Entry } from '@confd-haproxy/schema';
import { TemplateProblem } from './errors.js';
import type { ConfdScope, Helper, KVPairView, LookupRequest, RenderScope } from './types.js';

// The scope and helper types live in types.ts (the package's base file); re-exported for importers.
export type { ConfdScope, EntryRecovery, Helper, KVPairView, LookupRequest, RenderScope } from './types.js';

const str = (v: unknown): string => (v == null ? '' : String(v));
const normKey = (k: unknown): string => {
  const s = str(k);
  return s.startsWith('/') ? s : `/${s}`;
};

const fail = (helper: string, message: string, key?: string, cause?: unknown): never => {
  throw new TemplateProblem('TEMPLATE_HELPER', `${helper}: ${message}`, { key, cause });
};

function arity(helper: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    fail(helper, `takes ${want} argument${min === 1 && max === 1 ? '' : 's'}, got ${args.length}`);
  }
}

/** Go's path.Match as a RegExp: `*` and `?` never cross "/"; a malformed pattern is an error. */
export function globToRegExp(pattern: string): RegExp {
  const bad = (why: string): never => {
    throw new TemplateProblem('TEMPLATE_HELPER', `bad pattern ${JSON.stringify(pattern)} (${why})`);
  };
  const lit = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (++i >= pattern.length) bad('trailing "\\"');
      re += lit(pattern[i]!);
    } else if (c === '[') {
      let cls = '';
      i++;
      if (pattern[i] === '^') {
        cls += '^/';
        i++;
      }
      let ranges = 0;
      for (;;) {
        if (i >= pattern.length) bad('unclosed "["');
        if (pattern[i] === ']' && ranges > 0) break;
        const one = (): string => {
          let ch = pattern[i];
          if (ch === '\\') ch = pattern[++i];
          if (ch === undefined || (pattern[i - 1] !== '\\' && (ch === ']' || ch === '-'))) bad('malformed "[...]"');
          i++;
          return ch!;
        };
        const lo = one();
        if (pattern[i] === '-') {
          i++;
          const hi = one();
          if (hi < lo) bad(`empty range ${lo}-${hi}`);
          cls += `${lit(lo)}-${lit(hi)}`;
        } else cls += lit(lo);
        ranges++;
      }
      re += `[${cls}]`;
    } else re += lit(c);
  }
  return new RegExp(`^${re}$`, 's');
}

/** Go's path.Base. */
export function goBase(p: string): string {
  if (p === '') return '.';
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Go's path.Clean. */
function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(part);
  }
  const s = (rooted ? '/' : '') + out.join('/');
  return s === '' ? '.' : s;
}

/** Go's path.Dir. */
export function goDir(p: string): string {
  return goClean(p.slice(0, p.lastIndexOf('/') + 1));
}

/** confd's `ls`/`lsdir`: names one level below `dir`; `dirs` are those that have children. */
function children(scope: RenderScope, dir: unknown): { names: string[]; dirs: Set<string> } {
  const base = normKey(dir).replace(/\/+$/, '');
  const prefix = `${base}/`;
  const names = new Set<string>();
  const dirs = new Set<string>();
  for (const p of scope.pairs) {
    if (p.Key === base && base !== '') names.add(goBase(base));
    if (!p.Key.startsWith(prefix)) continue;
    const rest = p.Key.slice(prefix.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    if (!name) continue;
    names.add(name);
    if (slash >= 0) dirs.add(name);
  }
  return { names: [...names].sort(), dirs };
}

function matching(scope: RenderScope, pattern: unknown): KVPairView[] {
  const re = globToRegExp(normKey(pattern));
  return scope.pairs.filter((p) => re.test(p.Key));
}

function num(helper: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) fail(helper, `${JSON.stringify(v)} is not a number`);
  return n;
}

function int(helper: string, v: unknown): number {
  const n = num(helper, v);
  if (!Number.isInteger(n)) fail(helper, `${n} is not an integer`);
  return n;
}

function parseJson(scope: RenderScope, helper: 'json' | 'jsonArray', text: unknown, key = scope.keyOfValue(str(text))): unknown {
  const s = str(text);
  // "<key>: json: value is not JSON (...)", the key first as in every data error.
  const what = `${key === undefined ? '' : `${key}: `}${helper}: value`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(s) as unknown;
  } catch (err) {
    throw new TemplateProblem('TEMPLATE_BAD_VALUE', `${what} is not JSON (${(err as Error).message})`, { key, cause: err });
  }
  if (helper === 'json' && (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))) {
    throw new TemplateProblem('TEMPLATE_BAD_VALUE', `${what} is not a JSON object (use jsonArray for arrays)`, { key });
  }
  if (helper === 'jsonArray' && !Array.isArray(parsed)) {
    throw new TemplateProblem('TEMPLATE_BAD_VALUE', `${what} is not a JSON array`, { key });
  }
  if (key !== undefined) scope.taint(parsed, key);
  return parsed;
}

/**
 * The key `entry` reads: the pair it is called on ({{#each (gets ...)}}{{#with (entry Value)}}) when
 * that pair holds the value, else the first key holding it. Two keys may hold the same text, and
 * only the pair itself tells which one a render is at.
 */
function keyOfEntry(scope: RenderScope, text: unknown, self: unknown): string | undefined {
  const s = str(text);
  if (self && typeof self === 'object') {
    const { Key, Value } = self as Partial<KVPairView>;
    if (typeof Key === 'string' && Value === s && scope.byKey.get(Key) === s) return Key;
  }
  return scope.keyOfValue(s);
}

const badEntry = (key: string | undefined, problem: string) =>
  new TemplateProblem('TEMPLATE_BAD_VALUE', `${key === undefined ? '' : `${key}: `}entry: ${problem}`, { key });

// An entry's fields end up as words of HAProxy config lines, so the shipped templates read entries
// through `entry`: the schema's rules for an entry as a template may meet it, and its name is its key's tag.
function entryValue(scope: RenderScope, text: unknown, key: string | undefined): unknown {
  const e = parseJson(scope, 'json', text, key);
  const problem = entryProblem(e, 'read') ?? (key === undefined ? undefined : ownerProblem(key, e as Entry));
  if (problem === undefined) return e;
  throw badEntry(key, problem);
}

/** `entry` with recovery: a bad value yields the key's last good entry, or nothing ({{#with}} skips it). */
function entryOrLastGood(scope: RenderScope, text: unknown, key: string | undefined): unknown {
  const recovery = scope.entries;
  if (!recovery) return entryValue(scope, text, key);
  try {
    const parsed = entryValue(scope, text, key);
    if (key === undefined) return parsed;
    const conflict = recovery.conflict?.(key);
    if (conflict !== undefined) throw badEntry(key, conflict);
    recovery.accepted(key, str(text));
    return parsed;
  } catch (err) {
    if (!(err instanceof TemplateProblem) || err.code !== 'TEMPLATE_BAD_VALUE' || err.key === undefined) throw err;
    const key = err.key;
    const good = recovery.lastGood(key);
    const fallback = good === undefined ? undefined : parseLastGood(scope, key, good);
    recovery.refused(key, err.message, fallback === undefined ? 'left-out' : 'last-good');
    return fallback;
  }
}

/** A remembered value, checked again (and tainted as `key`'s) as if the store held it. */
function parseLastGood(scope: RenderScope, key: string, good: string): unknown {
  try {
    return entryValue(scope, good, key);
  } catch {
    return undefined;
  }
}

/** A lookup's answer from an earlier pass, or [] with the lookup recorded as wanted. */
export function lookup(scope: ConfdScope, req: LookupRequest): unknown {
  const id = JSON.stringify(req);
  if (scope.lookups.has(id)) return scope.lookups.get(id);
  scope.wanted.add(id);
  return [];
}

/** Go's fmt verbs that templates use: %s %d %v %q %%. */
function printf(format: string, args: unknown[]): string {
  let i = 0;
  const out = format.replace(/%([%sdvq])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    if (i >= args.length) return `%!${verb}(MISSING)`;
    const a = args[i++];
    if (verb === 'd') return String(int('printf', a));
    if (verb === 'q') return JSON.stringify(str(a));
    return str(a);
  });
  if (/%[^%sdvq]/.test(format.replace(/%%/g, ''))) fail('printf', `unsupported verb in ${JSON.stringify(format)} (use %s, %d, %v, %q or %%)`);
  return out;
}

/** confd's getenv under the instance's policy: a name not allowed fails loudly, default or not (a default would hide that the template wanted something it may not read). */
export function getenv(scope: ConfdScope, name: string, fallback: string): string {
  if (scope.envNames && !scope.envNames.has(name)) {
    throw new TemplateProblem('TEMPLATE_NOT_ALLOWED', `getenv: ${JSON.stringify(name)} is not an environment variable these templates may read (the instance allows it with --allow-env ${name})`);
  }
  const v = scope.env[name];
  return v === undefined || v === '' ? fallback : v;
}

export const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
export const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** confd's functions (https://github.com/kelseyhightower/confd/blob/master/docs/templates.md). */
export const CONFD_HELPERS: Readonly<Record<string, Helper>> = {
  exists: (s, a) => (arity('exists', a, 1), s.byKey.has(normKey(a[0]))),
  get: (s, a) => {
    arity('get', a, 1);
    const key = normKey(a[0]);
    const v = s.byKey.get(key);
    if (v === undefined) throw new TemplateProblem('TEMPLATE_MISSING_KEY', `get: key does not exist: ${key}`, { key });
    return { Key: key, Value: v };
  },
  gets: (s, a) => (arity('gets', a, 1), matching(s, a[0]).map((p) => ({ ...p }))),
  getv: (s, a) => {
    arity('getv', a, 1, 2);
    const key = normKey(a[0]);
    const v = s.byKey.get(key);
    if (v !== undefined) return v;
    if (a.length > 1) return a[1];
    throw new TemplateProblem('TEMPLATE_MISSING_KEY', `getv: key does not exist: ${key} (give a default: getv "${key}" "...")`, { key });
  },
  // confd sorts getvs by value, not by key.
  getvs: (s, a) => (arity('getvs', a, 1), matching(s, a[0]).map((p) => p.Value).sort()),
  ls: (s, a) => (arity('ls', a, 1), children(s, a[0]).names),
  lsdir: (s, a) => {
    arity('lsdir', a, 1);
    const c = children(s, a[0]);
    return c.names.filter((n) => c.dirs.has(n));
  },
  base: (_s, a) => (arity('base', a, 1), goBase(str(a[0]))),
  dir: (_s, a) => (arity('dir', a, 1), goDir(str(a[0]))),
  split: (_s, a) => {
    arity('split', a, 2);
    const [v, sep] = [str(a[0]), str(a[1])];
    if (sep === '') return [...v];
    return v.split(sep);
  },
  join: (_s, a) => {
    arity('join', a, 2);
    if (!Array.isArray(a[0])) fail('join', 'the first argument is not a list');
    return (a[0] as unknown[]).map(str).join(str(a[1]));
  },
  toUpper: (_s, a) => (arity('toUpper', a, 1), str(a[0]).toUpperCase()),
  toLower: (_s, a) => (arity('toLower', a, 1), str(a[0]).toLowerCase()),
  contains: (_s, a) => (arity('contains', a, 2), str(a[0]).includes(str(a[1]))),
  replace: (_s, a) => {
    arity('replace', a, 4);
    const [v, from, to] = [str(a[0]), str(a[1]), str(a[2])];
    let n = int('replace', a[3]);
    if (n < 0) return from === '' ? v : v.split(from).join(to);
    let out = '';
    let rest = v;
    while (n-- > 0 && from !== '') {
      const at = rest.indexOf(from);
      if (at < 0) break;
      out += rest.slice(0, at) + to;
      rest = rest.slice(at + from.length);
    }
    return out + rest;
  },
  trimSuffix: (_s, a) => {
    arity('trimSuffix', a, 2);
    const [v, suf] = [str(a[0]), str(a[1])];
    return suf && v.endsWith(suf) ? v.slice(0, -suf.length) : v;
  },
  json: (s, a) => (arity('json', a, 1), parseJson(s, 'json', a[0])),
  jsonArray: (s, a) => (arity('jsonArray', a, 1), parseJson(s, 'jsonArray', a[0])),
  entry: (s, a, self) => (arity('entry', a, 1), entryOrLastGood(s, a[0], keyOfEntry(s, a[0], self))),
  map: (_s, a) => {
    if (a.length % 2) fail('map', 'needs key/value pairs (an even number of arguments)');
    const out: Record<string, unknown> = {};
    for (let i = 0; i < a.length; i += 2) {
      if (typeof a[i] !== 'string') fail('map', `key ${i / 2 + 1} is not a string`);
      out[a[i] as string] = a[i + 1];
    }
    return out;
  },
  getenv: (s, a) => (arity('getenv', a, 1, 2), getenv(s, str(a[0]), str(a[1]))),
  datetime: (s, a) => (arity('datetime', a, 0), s.now().toISOString()),
  fileExists: (_s, a) => (arity('fileExists', a, 1), existsSync(str(a[0]))),
  lookupIP: (s, a) => (arity('lookupIP', a, 1), lookup(s, { kind: 'ip', name: str(a[0]) })),
  lookupIPV4: (s, a) => (arity('lookupIPV4', a, 1), lookup(s, { kind: 'ip4', name: str(a[0]) })),
  lookupIPV6: (s, a) => (arity('lookupIPV6', a, 1), lookup(s, { kind: 'ip6', name: str(a[0]) })),
  lookupSRV: (s, a) => {
    arity('lookupSRV', a, 3);
    return lookup(s, { kind: 'srv', name: `_${str(a[0])}._${str(a[1])}.${str(a[2])}` });
  },
  base64Encode: (_s, a) => (arity('base64Encode', a, 1), Buffer.from(str(a[0])).toString('base64')),
  base64Decode: (_s, a) => {
    arity('base64Decode', a, 1);
    const v = str(a[0]);
    if (v.length % 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) fail('base64Decode', `${JSON.stringify(v.slice(0, 40))} is not standard base64`);
    return Buffer.from(v, 'base64').toString('utf8');
  },
  parseBool: (_s, a) => {
    arity('parseBool', a, 1);
    const v = str(a[0]);
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    return fail('parseBool', `${JSON.stringify(v)} is not a boolean`);
  },
  atoi: (_s, a) => {
    arity('atoi', a, 1);
    const v = str(a[0]);
    if (!/^[+-]?\d+$/.test(v)) fail('atoi', `${JSON.stringify(v)} is not an integer`);
    return Number(v);
  },
  reverse: (_s, a) => {
    arity('reverse', a, 1);
    const v = a[0];
    if (typeof v === 'string') return [...v].reverse().join('');
    if (!Array.isArray(v)) fail('reverse', 'the argument is not a list');
    return [...(v as unknown[])].reverse();
  },
  sortByLength: (_s, a) => {
    arity('sortByLength', a, 1);
    if (!Array.isArray(a[0])) fail('sortByLength', 'the argument is not a list');
    return (a[0] as unknown[]).map(str).sort((x, y) => x.length - y.length);
  },
  sortKVByLength: (_s, a) => {
    arity('sortKVByLength', a, 1);
    if (!Array.isArray(a[0])) fail('sortKVByLength', 'the argument is not a list of {Key, Value}');
    return [...(a[0] as KVPairView[])].sort((x, y) => str(x?.Key).length - str(y?.Key).length);
  },
  seq: (_s, a) => {
    arity('seq', a, 2);
    const [from, to] = [int('seq', a[0]), int('seq', a[1])];
    if (to - from >= 100_000) fail('seq', `${from}..${to} is longer than 100000`);
    const out: number[] = [];
    for (let i = from; i <= to; i++) out.push(i);
    return out;
  },
  add: (_s, a) => (arity('add', a, 2), num('add', a[0]) + num('add', a[1])),
  sub: (_s, a) => (arity('sub', a, 2), num('sub', a[0]) - num('sub', a[1])),
  mul: (_s, a) => (arity('mul', a, 2), num('mul', a[0]) * num('mul', a[1])),
  div: (_s, a) => {
    arity('div', a, 2);
    const [x, y] = [num('div', a[0]), num('div', a[1])];
    if (y === 0) fail('div', 'division by zero');
    return Number.isInteger(x) && Number.isInteger(y) ? Math.trunc(x / y) : x / y;
  },
  mod: (_s, a) => {
    arity('mod', a, 2);
    const [x, y] = [int('mod', a[0]), int('mod', a[1])];
    if (y === 0) fail('mod', 'division by zero');
    return x % y;
  },
};

/** Go template built-ins that confd templates lean on, plus `slug` for HAProxy object names. */
export const EXTRA_HELPERS: Readonly<Record<string, Helper>> = {
  eq: (_s, a) => (arity('eq', a, 2), a[0] === a[1] || (a[0] != null && a[1] != null && String(a[0]) === String(a[1]))),
  ne: (_s, a) => (arity('ne', a, 2), !(a[0] === a[1] || (a[0] != null && a[1] != null && String(a[0]) === String(a[1])))),
  printf: (_s, a) => (arity('printf', a, 1, Infinity), printf(str(a[0]), a.slice(1))),
  // Joins its arguments with "_" and keeps only [A-Za-z0-9_-]: "10.0.0.1", 3306 → "10_0_0_1_3306".
  slug: (_s, a) => (arity('slug', a, 1, Infinity), a.map(str).join('_').replace(/[^A-Za-z0-9_-]/g, '_')),
};

export const HELPER_NAMES: readonly string[] = [...Object.keys(CONFD_HELPERS), ...Object.keys(EXTRA_HELPERS)];
