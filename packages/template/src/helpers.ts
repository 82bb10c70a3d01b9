// confd's template functions as Handlebars helpers, each usable as a subexpression.
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import type { HelperOptions } from 'handlebars';
import { TemplateError } from './errors.js';

export interface KVPairView {
  Key: string;
  Value: string;
}

/** What the helpers read during one render pass. */
export interface RenderScope {
  /** Sorted by key; keys start with "/". */
  pairs: KVPairView[];
  byKey: Map<string, string>;
  env: Record<string, string | undefined>;
  now: () => Date;
  /** Answers of DNS lookups resolved before this pass; a miss is recorded in `wanted`. */
  lookups: Map<string, unknown>;
  wanted: Set<string>;
  /** Record the key a parsed or raw value came from, so the injection guard can name it. */
  taint(value: unknown, key: string): void;
  keyOfValue(value: string): string | undefined;
}

const isOptions = (v: unknown): v is HelperOptions => typeof v === 'object' && v !== null && 'hash' in v && 'data' in v;
/** Drop Handlebars' trailing options object. */
const argsOf = (args: unknown[]): unknown[] => (args.length && isOptions(args[args.length - 1]) ? args.slice(0, -1) : args);

const norm = (k: unknown) => {
  const s = String(k ?? '');
  return s.startsWith('/') ? s : `/${s}`;
};

/** Go's path.Match as a RegExp: * and ? never cross "/". */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function children(scope: RenderScope, dir: unknown): { names: string[]; dirs: Set<string> } {
  const base = norm(dir).replace(/\/+$/, '');
  const prefix = `${base}/`;
  const names = new Set<string>();
  const dirs = new Set<string>();
  for (const p of scope.pairs) {
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

const num = (v: unknown, helper: string): number => {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new TemplateError('TEMPLATE_HELPER', `${helper}: "${String(v)}" is not a number`);
  return n;
};

function parseJson(scope: RenderScope, text: unknown, helper: string): unknown {
  const s = String(text ?? '');
  try {
    const v = JSON.parse(s) as unknown;
    const key = scope.keyOfValue(s);
    if (key) scope.taint(v, key);
    return v;
  } catch (err) {
    const key = scope.keyOfValue(s);
    throw new TemplateError('TEMPLATE_BAD_VALUE', `${key ? `${key}: ` : ''}${helper}: value is not JSON (${(err as Error).message})`, { cause: err });
  }
}

function lookup(scope: RenderScope, kind: string, ...args: string[]): unknown {
  const id = JSON.stringify([kind, ...args]);
  if (scope.lookups.has(id)) return scope.lookups.get(id);
  scope.wanted.add(id);
  return [];
}

export function makeHelpers(scope: () => RenderScope): Record<string, (...args: unknown[]) => unknown> {
  const h: Record<string, (...a: unknown[]) => unknown> = {
    exists: (...a) => scope().byKey.has(norm(argsOf(a)[0])),
    get: (...a) => {
      const key = norm(argsOf(a)[0]);
      const v = scope().byKey.get(key);
      if (v === undefined) throw new TemplateError('TEMPLATE_MISSING_KEY', `key does not exist: ${key}`);
      return { Key: key, Value: v };
    },
    gets: (...a) => {
      const re = globToRegExp(norm(argsOf(a)[0]));
      return scope().pairs.filter((p) => re.test(p.Key));
    },
    getv: (...a) => {
      const [k, dflt] = argsOf(a);
      const key = norm(k);
      const v = scope().byKey.get(key);
      if (v !== undefined) return v;
      if (dflt !== undefined) return dflt;
      throw new TemplateError('TEMPLATE_MISSING_KEY', `key does not exist: ${key}`);
    },
    getvs: (...a) => {
      const re = globToRegExp(norm(argsOf(a)[0]));
      return scope().pairs.filter((p) => re.test(p.Key)).map((p) => p.Value);
    },
    ls: (...a) => children(scope(), argsOf(a)[0]).names,
    lsdir: (...a) => {
      const c = children(scope(), argsOf(a)[0]);
      return c.names.filter((n) => c.dirs.has(n));
    },
    base: (...a) => posix.basename(String(argsOf(a)[0] ?? '')) || '.',
    dir: (...a) => posix.dirname(String(argsOf(a)[0] ?? '')),
    split: (...a) => {
      const [s, sep] = argsOf(a);
      return String(s ?? '').split(String(sep ?? ''));
    },
    join: (...a) => {
      const [arr, sep] = argsOf(a);
      return (Array.isArray(arr) ? arr : []).map(String).join(String(sep ?? ''));
    },
    toUpper: (...a) => String(argsOf(a)[0] ?? '').toUpperCase(),
    toLower: (...a) => String(argsOf(a)[0] ?? '').toLowerCase(),
    contains: (...a) => {
      const [s, sub] = argsOf(a);
      return String(s ?? '').includes(String(sub ?? ''));
    },
    replace: (...a) => {
      const [s, from, to, n] = argsOf(a);
      const str = String(s ?? '');
      const count = n === undefined ? -1 : num(n, 'replace');
      if (count < 0) return str.split(String(from)).join(String(to ?? ''));
      let out = str;
      let at = 0;
      for (let i = 0; i < count; i++) {
        const idx = out.indexOf(String(from), at);
        if (idx < 0) break;
        out = out.slice(0, idx) + String(to ?? '') + out.slice(idx + String(from).length);
        at = idx + String(to ?? '').length;
      }
      return out;
    },
    trimSuffix: (...a) => {
      const [s, suf] = argsOf(a).map((x) => String(x ?? ''));
      return suf && s!.endsWith(suf) ? s!.slice(0, -suf.length) : s;
    },
    json: (...a) => parseJson(scope(), argsOf(a)[0], 'json'),
    jsonArray: (...a) => {
      const v = parseJson(scope(), argsOf(a)[0], 'jsonArray');
      if (!Array.isArray(v)) throw new TemplateError('TEMPLATE_BAD_VALUE', 'jsonArray: value is not a JSON array');
      return v;
    },
    map: (...a) => {
      const args = argsOf(a);
      if (args.length % 2) throw new TemplateError('TEMPLATE_HELPER', 'map: needs key/value pairs');
      const out: Record<string, unknown> = {};
      for (let i = 0; i < args.length; i += 2) out[String(args[i])] = args[i + 1];
      return out;
    },
    getenv: (...a) => {
      const [k, dflt] = argsOf(a);
      const v = scope().env[String(k)];
      return v === undefined || v === '' ? (dflt ?? '') : v;
    },
    datetime: () => scope().now().toISOString(),
    fileExists: (...a) => existsSync(String(argsOf(a)[0] ?? '')),
    lookupIP: (...a) => lookup(scope(), 'ip', String(argsOf(a)[0])),
    lookupIPV4: (...a) => lookup(scope(), 'ip4', String(argsOf(a)[0])),
    lookupIPV6: (...a) => lookup(scope(), 'ip6', String(argsOf(a)[0])),
    lookupSRV: (...a) => {
      const [service, proto, name] = argsOf(a).map(String);
      return lookup(scope(), 'srv', `_${service}._${proto}.${name}`);
    },
    base64Encode: (...a) => Buffer.from(String(argsOf(a)[0] ?? '')).toString('base64'),
    base64Decode: (...a) => Buffer.from(String(argsOf(a)[0] ?? ''), 'base64').toString(),
    parseBool: (...a) => {
      const s = String(argsOf(a)[0]);
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
      throw new TemplateError('TEMPLATE_HELPER', `parseBool: "${s}" is not a boolean`);
    },
    atoi: (...a) => {
      const s = String(argsOf(a)[0]).trim();
      if (!/^[+-]?\d+$/.test(s)) throw new TemplateError('TEMPLATE_HELPER', `atoi: "${s}" is not an integer`);
      return Number(s);
    },
    reverse: (...a) => {
      const v = argsOf(a)[0];
      if (typeof v === 'string') return [...v].reverse().join('');
      return Array.isArray(v) ? [...v].reverse() : v;
    },
    sortByLength: (...a) => {
      const v = argsOf(a)[0];
      return Array.isArray(v) ? [...v].map(String).sort((x, y) => x.length - y.length) : v;
    },
    sortKVByLength: (...a) => {
      const v = argsOf(a)[0];
      return Array.isArray(v) ? [...(v as KVPairView[])].sort((x, y) => x.Key.length - y.Key.length) : v;
    },
    seq: (...a) => {
      const [from, to] = argsOf(a).map((x) => num(x, 'seq'));
      const out: number[] = [];
      for (let i = from!; i <= to! && out.length < 100_000; i++) out.push(i);
      return out;
    },
    add: (...a) => argsOf(a).map((x) => num(x, 'add')).reduce((x, y) => x + y, 0),
    sub: (...a) => {
      const [x, y] = argsOf(a).map((v) => num(v, 'sub'));
      return x! - y!;
    },
    mul: (...a) => {
      const [x, y] = argsOf(a).map((v) => num(v, 'mul'));
      return x! * y!;
    },
    div: (...a) => {
      const [x, y] = argsOf(a).map((v) => num(v, 'div'));
      if (y === 0) throw new TemplateError('TEMPLATE_HELPER', 'div: division by zero');
      return Math.trunc(x! / y!);
    },
    mod: (...a) => {
      const [x, y] = argsOf(a).map((v) => num(v, 'mod'));
      if (y === 0) throw new TemplateError('TEMPLATE_HELPER', 'mod: division by zero');
      return x! % y!;
    },
    // Not in confd, needed by HAProxy templates: comparisons and a safe name from any text.
    eq: (...a) => {
      const [x, y] = argsOf(a);
      return x === y || String(x) === String(y);
    },
    ne: (...a) => {
      const [x, y] = argsOf(a);
      return !(x === y || String(x) === String(y));
    },
    slug: (...a) =>
      argsOf(a)
        .map((x) => String(x ?? ''))
        .join('_')
        .replace(/[^A-Za-z0-9_.-]/g, '_')
        .replace(/\./g, '_'),
  };
  return h;
}

export const HELPER_NAMES = Object.keys(makeHelpers(() => ({}) as RenderScope));
