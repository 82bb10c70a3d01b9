// confd 0.17's template functions (resource/template/template_funcs.go and memkv's store) as Go
// functions for the Go template interpreter, with their Go signatures, so a wrong argument fails
// as it fails in confd. Policy as for Handlebars: getenv reads only the names allowed, lookups are
// answered between passes within their time limit.
import { existsSync } from 'node:fs';
import { GoCallError, GoMap, GoOpaque, GoSlice, GoStruct, INTERFACE, Unsupported, compareStrings, int, stringSlice, type GoFunc, type GoValue } from '@confd-haproxy/gotemplate';
import { FALSE, getenv, globToRegExp, goBase, goDir, lookup, TRUE, type ConfdScope } from './helpers.js';

/** What confd's functions read during one pass (byKey: memkv's keys, cleaned). */
export interface GoFuncScope extends ConfdScope {
  /** Told of each text a function brought in besides the store's keys and values (getenv, and what json, jsonArray and base64Decode decoded), with where it came from, for the injection guard. */
  decoded?: (text: string, source: string) => void;
}

const KV = 'memkv.KVPair';
const kvPair = (key: string, value: string) => new GoStruct(KV, [['Key', key], ['Value', value]]);
const f = (params: string[], result: string, call: (a: GoValue[]) => GoValue, variadic = false): GoFunc => ({ params, result, call, variadic });
const s = (v: GoValue) => v as string;
const n = (v: GoValue) => v as bigint;

/** Go's path.Clean, for memkv's keys (path.Join("/", key)). */
export const cleanKey = (key: string): string => goDir(`${key.startsWith('/') ? key : `/${key}`}/x`);

/** A JSON value as encoding/json decodes it into interface{}. */
function fromJson(v: unknown): GoValue {
  if (v === null) return null;
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (Array.isArray(v)) return new GoSlice(`[]${INTERFACE}`, INTERFACE, v.map(fromJson));
  return new GoMap(INTERFACE, new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, fromJson(x)])));
}

/** Every string inside a decoded JSON value. */
function* stringsOf(v: unknown): Generator<string> {
  if (typeof v === 'string') yield v;
  else if (Array.isArray(v)) for (const x of v) yield* stringsOf(x);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* [k, ...stringsOf(x)];
}

function unmarshal(text: string, want: 'object' | 'array', decoded?: (text: string, source: string) => void): GoValue {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    // Go's message differs; the render fails either way, and ours names the problem.
    throw new GoCallError(`invalid JSON (${(err as Error).message})`);
  }
  const goType = want === 'object' ? `map[string]${INTERFACE}` : `[]${INTERFACE}`;
  if (v === null) return want === 'object' ? new GoMap(INTERFACE, new Map()) : new GoSlice(goType, INTERFACE, [], true);
  const kind = Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'string' ? 'string' : typeof v === 'number' ? 'number' : 'bool';
  if (kind !== want) throw new GoCallError(`json: cannot unmarshal ${kind} into Go value of type ${goType}`);
  // Only an escape decodes to CR, LF or NUL that the raw text (checked as a store value) did not hold.
  if (decoded && /\\(?:[nr]|u000[0ad])/i.test(text)) for (const x of stringsOf(v)) decoded(x, `a string ${want === 'object' ? 'json' : 'jsonArray'} decoded`);
  return fromJson(v);
}

/** memkv's List and ListDir. */
function pathTerms(p: string): string[] {
  return goDir(`${p}/x`).split('/');
}
function samePrefix(prefix: string[], test: string[]): boolean {
  return test.length >= prefix.length && prefix.every((t, i) => t === test[i]);
}
function list(byKey: ReadonlyMap<string, string>, filePath: string): string[] {
  const found = new Set<string>();
  const prefix = pathTerms(filePath);
  for (const key of byKey.keys()) {
    if (key === filePath) {
      found.add(goBase(key));
      continue;
    }
    if (samePrefix(prefix, pathTerms(goDir(key)))) {
      const stripped = key.startsWith(filePath) ? key.slice(filePath.length) : key;
      found.add((stripped.startsWith('/') ? stripped.slice(1) : stripped).split('/')[0]!);
    }
  }
  return [...found].sort(compareStrings);
}
function listDir(byKey: ReadonlyMap<string, string>, filePath: string): string[] {
  const found = new Set<string>();
  const prefix = pathTerms(filePath);
  for (const key of byKey.keys()) {
    if (!key.startsWith(filePath)) continue;
    const items = pathTerms(goDir(key));
    if (samePrefix(prefix, items) && items.length - prefix.length >= 1) found.add(items[prefix.length]!);
  }
  return [...found].sort(compareStrings);
}

function getAll(byKey: ReadonlyMap<string, string>, pattern: string): GoSlice {
  let re: RegExp;
  try {
    re = globToRegExp(pattern);
  } catch {
    if (byKey.size === 0) return new GoSlice('memkv.KVPairs', KV, []);
    throw new GoCallError('syntax error in pattern');
  }
  const keys = [...byKey.keys()].filter((k) => re.test(k)).sort(compareStrings);
  return new GoSlice('memkv.KVPairs', KV, keys.map((k) => kvPair(k, byKey.get(k)!)));
}

/** Go's sort.Sort: stable below 13 elements (insertion sort); above, pdqsort orders ties its own way. */
function sortByLen(items: GoValue[], len: (v: GoValue) => number, what: string): void {
  if (items.length > 12) {
    const lengths = items.map(len);
    if (new Set(lengths).size !== lengths.length) throw new Unsupported(`${what} of more than 12 items of which some have the same length (Go's sort is not stable there)`);
  }
  const sorted = [...items].sort((a, b) => len(a) - len(b));
  items.splice(0, items.length, ...sorted);
}

const utf8Length = (v: GoValue) => Buffer.byteLength(s(v));

/** strings.ToUpper/ToLower where JavaScript maps each character to one character, as Go does. */
function mapCase(v: string, upper: boolean): string {
  let out = '';
  for (const c of v) {
    const m = upper ? c.toUpperCase() : c.toLowerCase();
    if ([...m].length !== 1) throw new Unsupported(`${upper ? 'toUpper' : 'toLower'} of ${JSON.stringify(c)} (Go maps it to one character)`);
    out += m;
  }
  return out;
}

function replace(v: string, from: string, to: string, count: bigint): string {
  if (from === to || count === 0n) return v;
  if (from === '') throw new Unsupported('replace with an empty old string');
  let left = count < 0n ? Infinity : Number(count);
  let out = '';
  let rest = v;
  while (left-- > 0) {
    const at = rest.indexOf(from);
    if (at < 0) break;
    out += rest.slice(0, at) + to;
    rest = rest.slice(at + from.length);
  }
  return out + rest;
}

function atoi(v: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(v)) throw new GoCallError(`strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  const x = BigInt(v);
  if (x !== BigInt.asIntN(64, x)) throw new GoCallError(`strconv.Atoi: parsing ${JSON.stringify(v)}: value out of range`);
  return x;
}


function base64Decode(v: string): string {
  const clean = v.replace(/[\r\n]/g, '');
  if (clean.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new GoCallError(`illegal base64 data at input byte ${firstBadBase64(clean)}`);
  const bytes = Buffer.from(clean, 'base64');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Unsupported('base64Decode to bytes that are not UTF-8 text');
  }
}
function firstBadBase64(v: string): number {
  const i = v.search(/[^A-Za-z0-9+/=]/);
  return i >= 0 ? i : v.length - (v.length % 4 || 4);
}

/** Go's time.Time.Format for the layout elements confd templates use. */
function formatTime(d: Date, layout: string): string {
  const p2 = (x: number) => String(x).padStart(2, '0');
  const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const off = -d.getTimezoneOffset();
  const offH = p2(Math.floor(Math.abs(off) / 60));
  const offM = p2(Math.abs(off) % 60);
  const sign = off < 0 ? '-' : '+';
  const tokens: [string, () => string][] = [
    ['January', () => months[d.getMonth()]!], ['Jan', () => months[d.getMonth()]!.slice(0, 3)],
    ['Monday', () => days[d.getDay()]!], ['Mon', () => days[d.getDay()]!.slice(0, 3)],
    ['2006', () => String(d.getFullYear())], ['-07:00', () => `${sign}${offH}:${offM}`], ['-0700', () => `${sign}${offH}${offM}`],
    ['Z07:00', () => (off === 0 ? 'Z' : `${sign}${offH}:${offM}`)], ['MST', () => { throw new Unsupported('the MST (zone name) layout element'); }],
    ['01', () => p2(d.getMonth() + 1)], ['02', () => p2(d.getDate())], ['15', () => p2(d.getHours())],
    ['03', () => p2(d.getHours() % 12 || 12)], ['04', () => p2(d.getMinutes())], ['05', () => p2(d.getSeconds())],
    ['06', () => p2(d.getFullYear() % 100)], ['PM', () => (d.getHours() >= 12 ? 'PM' : 'AM')],
    ['.000', () => `.${String(d.getMilliseconds()).padStart(3, '0')}`],
  ];
  let out = '';
  for (let i = 0; i < layout.length; ) {
    const t = tokens.find(([tok]) => layout.startsWith(tok, i));
    if (t) {
      out += t[1]();
      i += t[0].length;
      continue;
    }
    const c = layout[i]!;
    if (/[0-9]/.test(c) || layout.startsWith('.0', i) || layout.startsWith('.9', i) || layout.startsWith('_2', i) || layout.startsWith('__2', i)) {
      throw new Unsupported(`the time layout ${JSON.stringify(layout)} (element at ${JSON.stringify(layout.slice(i, i + 4))})`);
    }
    out += c;
    i++;
  }
  return out;
}

function timeValue(d: Date): GoOpaque {
  return new GoOpaque('time.Time', d, {
    Format: f(['string'], 'string', ([l]) => formatTime(d, s(l))),
    Year: f([], 'int', () => int(d.getFullYear())),
    Unix: f([], 'int', () => int(Math.floor(d.getTime() / 1000))),
  });
}

function srvList(answer: unknown): GoSlice {
  const recs = (answer as { Target: string; Port: number; Priority: number; Weight: number }[]).map((r) => ({ ...r, Target: r.Target.endsWith('.') ? r.Target : `${r.Target}.` }));
  // confd sorts by Sprintf("%s%d%d%d", Target, Port, Priority, Weight)
  const key = (r: (typeof recs)[number]) => `${r.Target}${r.Port}${r.Priority}${r.Weight}`;
  recs.sort((a, b) => compareStrings(key(a), key(b)));
  const items = recs.map((r) => new GoStruct('net.SRV', [['Target', r.Target], ['Port', int(r.Port)], ['Priority', int(r.Priority)], ['Weight', int(r.Weight)]], true));
  return new GoSlice('[]*net.SRV', '*net.SRV', items);
}

const divZero = () => new GoCallError('runtime error: integer divide by zero');

/** confd 0.17's function map over one pass's scope. */
export function confdGoFuncs(scope: GoFuncScope): Map<string, GoFunc> {
  const { byKey } = scope;
  const get = (key: string): string => {
    const v = byKey.get(key);
    if (v === undefined) throw new GoCallError(`key does not exist: ${key}`);
    return v;
  };
  return new Map<string, GoFunc>([
    ['exists', f(['string'], 'bool', ([k]) => byKey.has(s(k)))],
    ['ls', f(['string'], '[]string', ([k]) => stringSlice(list(byKey, s(k))))],
    ['lsdir', f(['string'], '[]string', ([k]) => stringSlice(listDir(byKey, s(k))))],
    ['get', f(['string'], KV, ([k]) => kvPair(s(k), get(s(k))))],
    ['gets', f(['string'], 'memkv.KVPairs', ([p]) => getAll(byKey, s(p)))],
    ['getv', f(['string', 'string'], 'string', ([k, ...d]) => (byKey.has(s(k)) ? byKey.get(s(k))! : d.length ? s(d[0]) : get(s(k))), true)],
    ['getvs', f(['string'], '[]string', ([p]) => stringSlice(getAll(byKey, s(p)).items.map((kv) => s((kv as GoStruct).field('Value') as GoValue)).sort(compareStrings)))],
    ['base', f(['string'], 'string', ([v]) => goBase(s(v)))],
    ['split', f(['string', 'string'], '[]string', ([v, sep]) => stringSlice(s(sep) === '' ? [...s(v)] : s(v).split(s(sep))))],
    ['json', f(['string'], `map[string]${INTERFACE}`, ([v]) => unmarshal(s(v), 'object', scope.decoded))],
    ['jsonArray', f(['string'], `[]${INTERFACE}`, ([v]) => unmarshal(s(v), 'array', scope.decoded))],
    ['dir', f(['string'], 'string', ([v]) => goDir(s(v)))],
    ['map', f([INTERFACE], `map[string]${INTERFACE}`, (a) => {
      if (a.length % 2 !== 0) throw new GoCallError('invalid map call');
      const m = new Map<string, GoValue>();
      for (let i = 0; i < a.length; i += 2) {
        if (typeof a[i] !== 'string') throw new GoCallError('map keys must be strings');
        m.set(s(a[i]), a[i + 1]);
      }
      return new GoMap(INTERFACE, m);
    }, true)],
    ['getenv', f(['string', 'string'], 'string', ([k, ...d]) => {
      const text = getenv(scope, s(k), d.length ? s(d[0]) : '');
      scope.decoded?.(text, `the environment variable ${s(k)}`);
      return text;
    }, true)],
    ['join', f(['[]string', 'string'], 'string', ([l, sep]) => (l as GoSlice).items.map(s).join(s(sep)))],
    ['datetime', f([], 'time.Time', () => timeValue(scope.now()))],
    ['toUpper', f(['string'], 'string', ([v]) => mapCase(s(v), true))],
    ['toLower', f(['string'], 'string', ([v]) => mapCase(s(v), false))],
    ['contains', f(['string', 'string'], 'bool', ([v, sub]) => s(v).includes(s(sub)))],
    ['replace', f(['string', 'string', 'string', 'int'], 'string', ([v, a, b, c]) => replace(s(v), s(a), s(b), n(c)))],
    ['trimSuffix', f(['string', 'string'], 'string', ([v, suf]) => (s(suf) !== '' && s(v).endsWith(s(suf)) ? s(v).slice(0, -s(suf).length) : s(v)))],
    ['lookupIP', f(['string'], '[]string', ([h]) => stringSlice(lookup(scope, { kind: 'ip', name: s(h) }) as string[]))],
    ['lookupIPV4', f(['string'], '[]string', ([h]) => stringSlice((lookup(scope, { kind: 'ip', name: s(h) }) as string[]).filter((a) => a.includes('.'))))],
    ['lookupIPV6', f(['string'], '[]string', ([h]) => stringSlice((lookup(scope, { kind: 'ip', name: s(h) }) as string[]).filter((a) => a.includes(':'))))],
    ['lookupSRV', f(['string', 'string', 'string'], '[]*net.SRV', ([svc, proto, name]) => srvList(lookup(scope, { kind: 'srv', name: `_${s(svc)}._${s(proto)}.${s(name)}` })))],
    ['fileExists', f(['string'], 'bool', ([p]) => existsSync(s(p)))],
    ['base64Encode', f(['string'], 'string', ([v]) => Buffer.from(s(v)).toString('base64'))],
    ['base64Decode', f(['string'], 'string', ([v]) => {
      const text = base64Decode(s(v));
      scope.decoded?.(text, 'a base64Decode result');
      return text;
    })],
    ['parseBool', f(['string'], 'bool', ([v]) => {
      if (TRUE.has(s(v))) return true;
      if (FALSE.has(s(v))) return false;
      throw new GoCallError(`strconv.ParseBool: parsing ${JSON.stringify(s(v))}: invalid syntax`);
    })],
    ['reverse', f([INTERFACE], INTERFACE, ([v]) => {
      // confd's type switch: []string and []memkv.KVPair are reversed in place, anything else (memkv.KVPairs too) is returned as it is.
      if (v instanceof GoSlice && (v.type === '[]string' || v.type === `[]${KV}`)) v.items.reverse();
      return v;
    })],
    ['sortByLength', f(['[]string'], '[]string', ([v]) => (sortByLen((v as GoSlice).items, utf8Length, 'sortByLength'), v))],
    ['sortKVByLength', f([`[]${KV}`], `[]${KV}`, ([v]) => (sortByLen((v as GoSlice).items, (kv) => utf8Length((kv as GoStruct).field('Key') as GoValue), 'sortKVByLength'), v))],
    ['add', f(['int', 'int'], 'int', ([a, b]) => int(n(a) + n(b)))],
    ['sub', f(['int', 'int'], 'int', ([a, b]) => int(n(a) - n(b)))],
    ['div', f(['int', 'int'], 'int', ([a, b]) => {
      if (n(b) === 0n) throw divZero();
      return int(n(a) / n(b));
    })],
    ['mod', f(['int', 'int'], 'int', ([a, b]) => {
      if (n(b) === 0n) throw divZero();
      return int(n(a) % n(b));
    })],
    ['mul', f(['int', 'int'], 'int', ([a, b]) => int(n(a) * n(b)))],
    ['seq', f(['int', 'int'], '[]int', ([a, b]) => {
      if (n(b) - n(a) >= 10_000_000n) throw new Unsupported('seq of more than 10,000,000 numbers');
      const out: GoValue[] = [];
      for (let i = n(a); i <= n(b); i++) out.push(i);
      return new GoSlice('[]int', 'int', out, out.length === 0);
    })],
    ['atoi', f(['string'], 'int', ([v]) => atoi(s(v)))],
  ]);
}

/** The names of confd's functions, for parsing (Go checks them when it parses). */
export const CONFD_GO_FUNC_NAMES: readonly string[] = [...confdGoFuncs({ byKey: new Map(), env: {}, now: () => new Date(0), lookups: new Map(), wanted: new Set() }).keys()];

