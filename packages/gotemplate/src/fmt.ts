// Go's fmt (Go 1.19) for the values templates hold: Sprint, Sprintln, Sprintf with the verbs
// %v %+v %s %q %d %b %o %O %x %X %c %U %t %e %E %f %F %g %G and the flags + - # space 0, width and
// precision. What it cannot print as Go does (a pointer inside a slice prints an address, a
// time.Time its monotonic clock) it refuses (Unsupported).
import { GoMap, GoOpaque, GoSlice, GoStruct, Unsupported, typeOf, type GoValue } from './value.js';

interface Spec {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width: number | undefined;
  prec: number | undefined;
  /** %+v */
  plusV: boolean;
}
const PLAIN: Spec = { plus: false, minus: false, sharp: false, space: false, zero: false, width: undefined, prec: undefined, plusV: false };

/** Code point order, which is Go's byte order of UTF-8 strings. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length < b.length ? -1 : 1;
}

const isPrint = (c: string) => c === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(c);

/** strconv.Quote (ASCII-only with `ascii`: strconv.QuoteToASCII). */
export function quote(s: string, ascii = false, q = '"'): string {
  let out = q;
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    if (c === q || c === '\\') out += `\\${c}`;
    else if (cp < 0x80 ? isPrint(c) : !ascii && isPrint(c)) out += c;
    else if (c === '\x07') out += '\\a';
    else if (c === '\b') out += '\\b';
    else if (c === '\f') out += '\\f';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === '\v') out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp < 0xe000) throw new Unsupported('quoting a string that is not valid UTF-8');
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + q;
}

// --- floats -------------------------------------------------------------------------------------

/** The exact decimal digits of a finite non-negative double, and where the point goes (0.d1d2… × 10^point). */
function exactDecimal(x: number): { digits: string; point: number } {
  if (x === 0) return { digits: '0', point: 1 };
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const bits = buf.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (exp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = exp - 1075;
  }
  let digits: string;
  let point: number;
  if (e >= 0) {
    digits = (mant << BigInt(e)).toString();
    point = digits.length;
  } else {
    const s = (mant * 5n ** BigInt(-e)).toString();
    point = s.length + e;
    digits = s;
  }
  const trimmed = digits.replace(/0+$/, '');
  const lead = trimmed.length - trimmed.replace(/^0+/, '').length;
  return { digits: trimmed.slice(lead) || '0', point: point - lead };
}

/** Round digits to n significant digits, half to even on exact ties (strconv's decimal rounding). */
function roundDigits(d: { digits: string; point: number }, n: number): { digits: string; point: number } {
  if (n < 0) return d;
  if (d.digits.length <= n) return d;
  const next = d.digits.charCodeAt(n) - 48;
  const rest = d.digits.slice(n + 1);
  let up = next > 5 || (next === 5 && (/[1-9]/.test(rest) || (n > 0 && (d.digits.charCodeAt(n - 1) - 48) % 2 === 1)));
  if (n === 0) up = next > 5 || (next === 5 && /[1-9]/.test(rest));
  let kept = d.digits.slice(0, n);
  let point = d.point;
  if (up) {
    const v = (BigInt(kept || '0') + 1n).toString();
    if (v.length > kept.length) {
      point++;
      kept = v.slice(0, Math.max(n, 1));
      if (n === 0) kept = '1';
    } else kept = v.padStart(n, '0');
  }
  return { digits: kept === '' ? '0' : kept, point: kept === '' ? point : point };
}

/** JavaScript's shortest round-trip digits, which are Go's (both pick the closest shortest). */
function shortestDigits(x: number): { digits: string; point: number } {
  if (x === 0) return { digits: '0', point: 1 };
  const [m, e] = x.toExponential().split('e') as [string, string];
  return { digits: m.replace('.', ''), point: Number(e) + 1 };
}

function fmtE(d: { digits: string; point: number }, prec: number, verb: 'e' | 'E', zero: boolean): string {
  let digits = d.digits;
  if (prec >= 0) digits = digits.padEnd(prec + 1, '0');
  const exp = zero ? 0 : d.point - 1;
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const ae = Math.abs(exp);
  return `${mant}${verb}${exp < 0 ? '-' : '+'}${ae < 10 ? `0${ae}` : ae}`;
}

function fmtF(d: { digits: string; point: number }, prec: number): string {
  let int: string;
  let frac: string;
  if (d.point <= 0) {
    int = '0';
    frac = '0'.repeat(-d.point) + d.digits;
  } else {
    int = d.digits.slice(0, d.point).padEnd(d.point, '0');
    frac = d.digits.slice(d.point);
  }
  if (prec >= 0) frac = frac.padEnd(prec, '0').slice(0, prec);
  return frac ? `${int}.${frac}` : int;
}

/** strconv.FormatFloat(x, verb, prec, 64) for 'e' 'E' 'f' 'g' 'G'. */
export function formatFloat(x: number, verb: 'e' | 'E' | 'f' | 'g' | 'G', prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  // The common case, a port or a count: %v of an integral float below 1e6 is its digits.
  if (prec < 0 && verb === 'g' && Number.isInteger(x) && Math.abs(x) < 1e6 && !Object.is(x, -0)) return String(x);
  const neg = x < 0 || Object.is(x, -0);
  const ax = Math.abs(x);
  const shortest = prec < 0;
  const zero = ax === 0;
  let d: { digits: string; point: number };
  if (shortest) d = shortestDigits(ax);
  else {
    const exact = exactDecimal(ax);
    if (zero) d = { digits: '0', point: 1 };
    else if (verb === 'f') d = roundDigits(exact, Math.max(0, exact.point + prec));
    else if (verb === 'e' || verb === 'E') d = roundDigits(exact, prec + 1);
    else d = roundDigits(exact, prec === 0 ? 1 : prec);
    if (verb === 'f' && exact.point + prec < 0) d = { digits: '0', point: 1 };
  }
  let out: string;
  if (verb === 'e' || verb === 'E') out = fmtE(d, shortest ? d.digits.length - 1 : prec, verb, zero);
  else if (verb === 'f') out = fmtF(zero ? { digits: '0', point: 1 } : d, shortest ? Math.max(d.digits.length - d.point, 0) : prec);
  else {
    let eprec = shortest ? 6 : prec === 0 ? 1 : prec;
    const nd = d.digits.replace(/0+$/, '').length || 1;
    if (!shortest && eprec > nd && nd >= d.point) eprec = nd;
    const exp = zero ? 0 : d.point - 1;
    const trimmed = { digits: d.digits.replace(/0+$/, '') || '0', point: d.point };
    if (exp < -4 || exp >= eprec) out = fmtE(trimmed, (shortest ? trimmed.digits.length : Math.min(prec === 0 ? 1 : prec, trimmed.digits.length)) - 1, verb === 'g' ? 'e' : 'E', zero);
    else out = fmtF(trimmed, Math.max(trimmed.digits.length - trimmed.point, 0));
  }
  return (neg ? '-' : '') + out;
}

// --- values -------------------------------------------------------------------------------------

const badVerb = (verb: string, v: GoValue): string => {
  if (v === null || v === undefined) return `%!${verb}(<nil>)`;
  return `%!${verb}(${typeOf(v)}=${printValue(v, 'v', PLAIN, 0)})`;
};

function pad(s: string, spec: Spec, zeroOk = true): string {
  if (spec.width === undefined || [...s].length >= spec.width) return s;
  const fill = spec.width - [...s].length;
  if (spec.minus) return s + ' '.repeat(fill);
  if (spec.zero && zeroOk) {
    const sign = /^[+\- ]/.test(s) ? s[0]! : '';
    return sign + '0'.repeat(fill) + s.slice(sign.length);
  }
  return ' '.repeat(fill) + s;
}

/** The integer verbs that print digits: their base and the prefix the # flag adds. */
const RADIX: Readonly<Record<string, { base: number; sharp?: string }>> = {
  v: { base: 10 }, d: { base: 10 }, b: { base: 2, sharp: '0b' }, o: { base: 8, sharp: '0' }, O: { base: 8 }, x: { base: 16, sharp: '0x' }, X: { base: 16, sharp: '0X' },
};

function fmtInteger(n: bigint, verb: string, spec: Spec): string {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const radix = RADIX[verb];
  let digits = radix ? a.toString(radix.base) : '';
  let prefix = '';
  if (radix) {
    if (verb === 'X') digits = digits.toUpperCase();
    if (verb === 'O') prefix = '0o';
    else if (spec.sharp && radix.sharp !== undefined && !(verb === 'o' && digits[0] === '0')) prefix = radix.sharp;
  }
  switch (verb) {
    case 'v': case 'd': case 'b': case 'o': case 'O': case 'x': case 'X':
      break;
    case 'c':
      return pad(n >= 0n && n <= 0x10ffffn && !(n >= 0xd800n && n < 0xe000n) ? String.fromCodePoint(Number(n)) : '\ufffd', spec, false);
    case 'q': {
      const c = n >= 0n && n <= 0x10ffffn && !(n >= 0xd800n && n < 0xe000n) ? String.fromCodePoint(Number(n)) : '\ufffd';
      return pad(quote(c, spec.plus, "'"), spec, false);
    }
    case 'U': {
      let u = `U+${a.toString(16).toUpperCase().padStart(4, '0')}`;
      if (spec.sharp && n >= 0n && n <= 0x10ffffn && isPrint(String.fromCodePoint(Number(n)))) u += ` '${String.fromCodePoint(Number(n))}'`;
      return pad(u, spec, false);
    }
    default:
      return badVerb(verb, n);
  }
  if (spec.prec !== undefined) {
    if (spec.prec === 0 && a === 0n) digits = '';
    digits = digits.padStart(spec.prec, '0');
  }
  const sign = neg ? '-' : spec.plus ? '+' : spec.space ? ' ' : '';
  const body = sign + prefix + digits;
  if (spec.zero && !spec.minus && spec.prec === undefined && spec.width !== undefined && body.length < spec.width) {
    return sign + prefix + digits.padStart(spec.width - sign.length - prefix.length, '0');
  }
  return pad(body, spec, false);
}

function fmtFloatVerb(x: number, verb: string, spec: Spec): string {
  let v: 'e' | 'E' | 'f' | 'g' | 'G';
  let prec: number;
  switch (verb) {
    case 'v':
      [v, prec] = ['g', -1];
      break;
    case 'g':
    case 'G':
      [v, prec] = [verb, -1];
      break;
    case 'e':
    case 'E':
    case 'f':
      [v, prec] = [verb, 6];
      break;
    case 'F':
      [v, prec] = ['f', 6];
      break;
    default:
      return badVerb(verb, x);
  }
  if (spec.sharp) throw new Unsupported(`the # flag with %${verb}`);
  if (spec.prec !== undefined) prec = spec.prec;
  let s = formatFloat(x, v, prec);
  if (!s.startsWith('-')) {
    if (spec.plus) s = `+${s}`;
    else if (spec.space) s = ` ${s}`;
  }
  if (/Inf|NaN/.test(s)) {
    if (s === '+NaN' && !spec.plus && !spec.space) s = 'NaN';
    if (s === '+Inf' && !spec.plus) s = spec.space ? ' Inf' : 'Inf';
    return pad(s, spec, false);
  }
  return pad(s, spec, !spec.minus);
}

function fmtString(s: string, verb: string, spec: Spec): string {
  switch (verb) {
    case 'v':
    case 's': {
      const cut = spec.prec !== undefined ? [...s].slice(0, spec.prec).join('') : s;
      return pad(cut, spec, !spec.minus);
    }
    case 'q':
      if (spec.sharp && !s.includes('`') && [...s].every((c) => c === '\t' || isPrint(c))) return pad(`\`${s}\``, spec);
      return pad(quote(spec.prec !== undefined ? [...s].slice(0, spec.prec).join('') : s, spec.plus), spec, !spec.minus);
    case 'x':
    case 'X': {
      let bytes = Buffer.from(spec.prec !== undefined ? [...s].slice(0, spec.prec).join('') : s, 'utf8');
      if (spec.prec !== undefined) bytes = bytes.subarray(0, spec.prec);
      let hex = [...bytes].map((b) => b.toString(16).padStart(2, '0'));
      if (verb === 'X') hex = hex.map((h) => h.toUpperCase());
      const pre = spec.sharp ? (verb === 'x' ? '0x' : '0X') : '';
      const out = spec.space ? hex.map((h) => pre + h).join(' ') : pre + hex.join('');
      return pad(out, spec, !spec.minus);
    }
    default:
      return badVerb(verb, s);
  }
}

/** p.printValue / p.printArg: one value under one verb, at a nesting depth. */
function printValue(v: GoValue, verb: string, spec: Spec, depth: number): string {
  if (v === undefined || v === null) {
    if (verb === 'v' || verb === 's' && depth > 0) return pad('<nil>', spec, false);
    if (depth > 0 && verb !== 'v') return badVerb(verb, null);
    return verb === 'v' ? pad('<nil>', spec, false) : badVerb(verb, null);
  }
  switch (typeof v) {
    case 'boolean':
      return verb === 'v' || verb === 't' ? pad(String(v), spec, false) : badVerb(verb, v);
    case 'bigint':
      return fmtInteger(v, verb, spec);
    case 'number':
      return fmtFloatVerb(v, verb, spec);
    case 'string':
      return fmtString(v, verb, spec);
  }
  if (v instanceof GoSlice) {
    if (verb === 's' || verb === 'q' || verb === 'x' || verb === 'X' || verb === 'v' || verb === 'd' || verb === 'b' || verb === 'o' || verb === 'c' || verb === 't' || verb === 'e' || verb === 'f' || verb === 'g' || verb === 'E' || verb === 'G' || verb === 'O' || verb === 'U' || verb === 'F') {
      return `[${v.items.map((i) => printValue(i, verb, spec, depth + 1)).join(' ')}]`;
    }
    return badVerb(verb, v);
  }
  if (v instanceof GoMap) {
    const keys = [...v.entries.keys()].sort(compareStrings);
    return `map[${keys.map((k) => `${printValue(k, verb, spec, depth + 1)}:${printValue(v.entries.get(k), verb, spec, depth + 1)}`).join(' ')}]`;
  }
  if (v instanceof GoStruct) {
    if (v.pointer && depth > 0) throw new Unsupported(`printing a ${typeOf(v)} inside another value (Go prints its memory address)`);
    const inner = v.fields.map(([name, f]) => (spec.plusV ? `${name}:` : '') + printValue(f, verb, spec, depth + 1)).join(' ');
    return `${v.pointer ? '&' : ''}{${inner}}`;
  }
  if (v instanceof GoOpaque) throw new Unsupported(`printing a ${v.type} (Go's text is not reproducible here; use a method such as .Format)`);
  return badVerb(verb, v);
}

/** fmt.Sprint: spaces between operands when neither is a string. */
export function sprint(args: readonly GoValue[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += printValue(a, 'v', PLAIN, 0);
  });
  return out;
}

/** fmt.Sprintln: spaces between all operands, a newline at the end. */
export function sprintln(args: readonly GoValue[]): string {
  return `${args.map((a) => printValue(a, 'v', PLAIN, 0)).join(' ')}\n`;
}

/** fmt.Sprintf. */
export function sprintf(format: string, args: readonly GoValue[]): string {
  let out = '';
  let argNum = 0;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { ...PLAIN };
    flags: for (; i < format.length; i++) {
      switch (format[i]) {
        case '#': spec.sharp = true; break;
        case '0': spec.zero = !spec.minus; break;
        case '+': spec.plus = true; break;
        case '-': spec.minus = true; spec.zero = false; break;
        case ' ': spec.space = true; break;
        default: break flags;
      }
    }
    if (format[i] === '[') throw new Unsupported('explicit argument indexes in printf formats (%[n]v)');
    const num = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const a = args[argNum++];
        if (typeof a !== 'bigint') throw new Unsupported('a * width or precision that is not an int');
        return Number(a);
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = num();
    if (spec.width !== undefined && spec.width < 0) {
      spec.minus = true;
      spec.zero = false;
      spec.width = -spec.width;
    }
    if (format[i] === '.') {
      i++;
      spec.prec = num() ?? 0;
      if (spec.prec < 0) spec.prec = undefined;
    }
    if (i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argNum >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argNum++];
    if (verb === 'v' && spec.plus) {
      spec.plus = false;
      spec.plusV = true;
    }
    if (verb === 'v' && spec.sharp) throw new Unsupported('%#v');
    if (verb === 'T') {
      out += pad(arg === null || arg === undefined ? '<nil>' : typeOf(arg), spec, false);
      continue;
    }
    if (verb === 'p') throw new Unsupported('%p (Go prints a memory address)');
    if (!/^[vsqdboOxXcUteEfFgGT]$/.test(verb)) {
      out += badVerb(verb, arg);
      continue;
    }
    out += printValue(arg, verb, spec, 0);
  }
  if (argNum < args.length) {
    out += `%!(EXTRA ${args.slice(argNum).map((a) => (a === null || a === undefined ? '<nil>' : `${typeOf(a)}=${printValue(a, 'v', PLAIN, 0)}`)).join(', ')})`;
  }
  return out;
}

/** What a template action writes for a value (exec.go printValue after printableValue). */
export function printAction(v: GoValue): string {
  if (v === undefined) return '<no value>';
  if (v instanceof GoStruct && v.pointer) return printValue(new GoStruct(v.type, v.fields), 'v', PLAIN, 0);
  return printValue(v, 'v', PLAIN, 0);
}
