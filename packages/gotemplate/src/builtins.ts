// Go's builtin template functions (text/template/funcs.go, Go 1.19).
import { compareStrings, sprint, sprintf, sprintln } from './fmt.js';
import { GoCallError, GoMap, GoOpaque, GoSlice, GoStruct, INTERFACE, Unsupported, typeOf, type GoFunc, type GoValue } from './value.js';

/** exec.go isTrue: undefined when the value has no truth (Go: "if/with can't use"). */
export function isTrue(v: GoValue): boolean | undefined {
  if (v === undefined || v === null) return false;
  switch (typeof v) {
    case 'string':
      return v.length > 0;
    case 'boolean':
      return v;
    case 'bigint':
      return v !== 0n;
    case 'number':
      return v !== 0;
  }
  if (v instanceof GoSlice) return v.items.length > 0;
  if (v instanceof GoMap) return v.entries.size > 0;
  if (v instanceof GoStruct) return true;
  if (v instanceof GoOpaque) return true;
  return undefined;
}

type Kind = 'invalid' | 'bool' | 'int' | 'float' | 'string';
function basicKind(v: GoValue): Kind | undefined {
  if (v === undefined || v === null) return 'invalid';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    case 'string':
      return 'string';
  }
  return undefined;
}

const errBadComparisonType = 'invalid type for comparison';
const errBadComparison = 'incompatible types for comparison';

/** Go's == on comparable non-basic values (structs field by field); slices and maps are not comparable. */
function deepEqual(a: GoValue, b: GoValue): boolean {
  if (a instanceof GoStruct && b instanceof GoStruct) {
    if (a.pointer || b.pointer) throw new Unsupported('comparing pointers');
    return typeOf(a) === typeOf(b) && a.fields.every(([n, v], i) => n === b.fields[i]?.[0] && basicEq(v, b.fields[i]![1]));
  }
  return false;
}
function basicEq(a: GoValue, b: GoValue): boolean {
  if (typeof a !== 'object' || a === null) return a === b;
  return deepEqual(a, b);
}
const comparable = (v: GoValue) => !(v instanceof GoSlice || v instanceof GoMap || v instanceof GoOpaque);

function eq(arg1: GoValue, rest: GoValue[]): boolean {
  const zero1 = arg1 === undefined || arg1 === null;
  if (!zero1 && !comparable(arg1)) throw new GoCallError(errBadComparisonType);
  if (rest.length === 0) throw new GoCallError('missing argument for comparison');
  // Go's basicKind: a struct is "invalid" like no value, and compared by ==.
  const kind = (v: GoValue) => basicKind(v) ?? 'invalid';
  const k1 = kind(arg1);
  for (const arg of rest) {
    const zero = arg === undefined || arg === null;
    const k2 = kind(arg);
    let truth = false;
    if (k1 !== k2) {
      if (!zero1 && !zero) throw new GoCallError(errBadComparison);
    } else if (k1 !== 'invalid') {
      truth = arg1 === arg;
    } else if (zero1 || zero) {
      truth = zero1 === zero;
    } else {
      if (!comparable(arg)) throw new GoCallError(`non-comparable type ${typeOf(arg)}`);
      if (typeOf(arg1) !== typeOf(arg)) throw new GoCallError(`non-comparable types ${typeOf(arg1)}, ${typeOf(arg)}`);
      truth = deepEqual(arg1, arg);
    }
    if (truth) return true;
  }
  return false;
}

function lt(a: GoValue, b: GoValue): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === undefined || k1 === 'invalid' || k2 === undefined || k2 === 'invalid') throw new GoCallError(errBadComparisonType);
  if (k1 !== k2) throw new GoCallError(errBadComparison);
  if (k1 === 'bool') throw new GoCallError(errBadComparisonType);
  if (k1 === 'string') return compareStrings(a as string, b as string) < 0;
  return (a as number | bigint) < (b as number | bigint);
}

/** Bytes of a string, when Go's byte offsets are the same as JavaScript's offsets (ASCII). */
function asciiOnly(s: string, what: string): string {
  if (/[^\x00-\x7f]/.test(s)) throw new Unsupported(`${what} of a string with non-ASCII characters (Go counts bytes)`);
  return s;
}

function indexArg(i: GoValue, cap: number): number {
  if (i === undefined || i === null) throw new GoCallError('cannot index slice/array with nil');
  if (typeof i !== 'bigint') throw new GoCallError(`cannot index slice/array with type ${typeOf(i)}`);
  if (i < 0n || i > BigInt(cap)) throw new GoCallError(`index out of range: ${i}`);
  return Number(i);
}

function index(item: GoValue, indexes: GoValue[]): GoValue {
  if (item === undefined || item === null) throw new GoCallError('index of untyped nil');
  for (const ix of indexes) {
    if (item === null) throw new GoCallError('index of nil pointer');
    if (item instanceof GoSlice) {
      const x = indexArg(ix, item.items.length);
      if (x === item.items.length) throw new GoCallError('reflect: slice index out of range');
      item = item.items[x];
    } else if (typeof item === 'string') {
      throw new Unsupported('index of a string (Go answers a byte)');
    } else if (item instanceof GoMap) {
      if (ix === undefined || ix === null) throw new GoCallError('value is nil; should be of type string');
      if (typeof ix !== 'string') throw new GoCallError(`value has type ${typeOf(ix)}; should be string`);
      item = item.entries.has(ix) ? item.entries.get(ix) : null;
    } else throw new GoCallError(`can't index item of type ${typeOf(item)}`);
  }
  return item;
}

function slice(item: GoValue, indexes: GoValue[]): GoValue {
  if (item === undefined || item === null) throw new GoCallError('slice of untyped nil');
  if (indexes.length > 3) throw new GoCallError(`too many slice indexes: ${indexes.length}`);
  let len: number;
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new GoCallError('cannot 3-index slice a string');
    len = asciiOnly(item, 'slice').length;
  } else if (item instanceof GoSlice) {
    if (indexes.length === 3) throw new Unsupported('3-index slices');
    len = item.items.length;
    // Go checks against the capacity, which a template cannot see: only within the length is the same.
  } else throw new GoCallError(`can't slice item of type ${typeOf(item)}`);
  const idx = [0, len];
  indexes.forEach((v, i) => {
    const x = indexArg(v, len);
    idx[i] = x;
  });
  if (idx[0]! > idx[1]!) throw new GoCallError(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (typeof item === 'string') return item.slice(idx[0], idx[1]);
  return new GoSlice(item.type, item.elem, item.items.slice(idx[0], idx[1]));
}

function length(item: GoValue): bigint {
  if (item === undefined || item === null) throw new GoCallError('len of untyped nil');
  if (typeof item === 'string') return BigInt(Buffer.byteLength(item));
  if (item instanceof GoSlice) return BigInt(item.items.length);
  if (item instanceof GoMap) return BigInt(item.entries.size);
  throw new GoCallError(`len of type ${typeOf(item)}`);
}

const evalArgs = (args: GoValue[]): string => (args.length === 1 && typeof args[0] === 'string' ? args[0] : sprint(args));

const HTML: Readonly<Record<string, string>> = { '\0': '\ufffd', '"': '&#34;', "'": '&#39;', '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const JS: Readonly<Record<string, string>> = { '\\': '\\\\', "'": "\\'", '"': '\\"', '<': '\\u003C', '>': '\\u003E', '&': '\\u0026', '=': '\\u003D' };
const isPrint = (c: string) => c === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(c);

function jsEscape(s: string): string {
  let out = '';
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    if (JS[c]) out += JS[c];
    else if (cp < 0x20) out += `\\u00${cp.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (cp < 0x80) out += c;
    else if (isPrint(c)) out += c;
    else out += `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return out;
}

/** url.QueryEscape. */
function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const R = 'reflect.Value';
const fn = (params: string[], result: string, call: (a: GoValue[]) => GoValue, extra: Partial<GoFunc> = {}): GoFunc => ({ params, result, call, ...extra });

export const BUILTINS: ReadonlyMap<string, GoFunc> = new Map<string, GoFunc>([
  ['and', fn([R, R], R, () => undefined, { variadic: true, reflect: true, shortCircuit: 'and' })],
  ['or', fn([R, R], R, () => undefined, { variadic: true, reflect: true, shortCircuit: 'or' })],
  ['not', fn([R], 'bool', ([a]) => !(isTrue(a) ?? true), { reflect: true })],
  ['call', fn([R, R], R, ([f]) => {
    throw new GoCallError(f === undefined || f === null ? 'call of nil' : `non-function of type ${typeOf(f)}`);
  }, { variadic: true, reflect: true })],
  ['html', fn([INTERFACE], 'string', (a) => evalArgs(a).replace(/[\0"'&<>]/g, (c) => HTML[c]!), { variadic: true })],
  ['js', fn([INTERFACE], 'string', (a) => jsEscape(evalArgs(a)), { variadic: true })],
  ['urlquery', fn([INTERFACE], 'string', (a) => queryEscape(evalArgs(a)), { variadic: true })],
  ['index', fn([R, R], R, ([item, ...ix]) => index(item, ix), { variadic: true, reflect: true })],
  ['slice', fn([R, R], R, ([item, ...ix]) => slice(item, ix), { variadic: true, reflect: true })],
  ['len', fn([R], 'int', ([a]) => length(a), { reflect: true })],
  ['print', fn([INTERFACE], 'string', (a) => sprint(a), { variadic: true })],
  ['printf', fn(['string', INTERFACE], 'string', ([f, ...a]) => sprintf(f as string, a), { variadic: true })],
  ['println', fn([INTERFACE], 'string', (a) => sprintln(a), { variadic: true })],
  ['eq', fn([R, R], 'bool', ([a, ...b]) => eq(a, b), { variadic: true, reflect: true })],
  ['ne', fn([R, R], 'bool', ([a, b]) => !eq(a, [b]), { reflect: true })],
  ['lt', fn([R, R], 'bool', ([a, b]) => lt(a, b), { reflect: true })],
  ['le', fn([R, R], 'bool', ([a, b]) => lt(a, b) || eq(a, [b]), { reflect: true })],
  ['gt', fn([R, R], 'bool', ([a, b]) => !(lt(a, b) || eq(a, [b])), { reflect: true })],
  ['ge', fn([R, R], 'bool', ([a, b]) => !lt(a, b), { reflect: true })],
]);
