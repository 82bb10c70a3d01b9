// Go's literals: strconv.Unquote for "..." `...` '...', and the number rules of parse.newNumber.
import { Unsupported } from './value.js';

const SIMPLE: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** One character of a quoted literal starting at s[i]; returns it and the next index. */
function unquoteChar(s: string, i: number, quote: string): [string, number] {
  const c = s[i]!;
  if (c === quote && quote !== '`') throw new Error('invalid syntax');
  if (c !== '\\') {
    const cp = s.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    return [ch, i + ch.length];
  }
  const e = s[i + 1];
  if (e === undefined) throw new Error('invalid syntax');
  if (e in SIMPLE) return [SIMPLE[e]!, i + 2];
  if (e === quote) return [e, i + 2];
  const hex = (n: number): [string, number] => {
    const h = s.slice(i + 2, i + 2 + n);
    if (h.length !== n || !/^[0-9a-fA-F]+$/.test(h)) throw new Error('invalid syntax');
    const v = parseInt(h, 16);
    if (n === 2) {
      // \xNN is a byte: only ASCII is the same character in UTF-16.
      if (v > 0x7f) throw new Unsupported(`the byte escape \\x${h} (not UTF-8 text)`);
      return [String.fromCharCode(v), i + 2 + n];
    }
    if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) throw new Error('invalid syntax');
    return [String.fromCodePoint(v), i + 2 + n];
  };
  if (e === 'x') return hex(2);
  if (e === 'u') return hex(4);
  if (e === 'U') return hex(8);
  if (e >= '0' && e <= '7') {
    const o = s.slice(i + 1, i + 4);
    if (!/^[0-7]{3}$/.test(o)) throw new Error('invalid syntax');
    const v = parseInt(o, 8);
    if (v > 255) throw new Error('invalid syntax');
    if (v > 0x7f) throw new Unsupported(`the byte escape \\${o} (not UTF-8 text)`);
    return [String.fromCharCode(v), i + 4];
  }
  throw new Error('invalid syntax');
}

/** strconv.Unquote. */
export function goUnquote(q: string): string {
  const quote = q[0];
  if (q.length < 2 || q[q.length - 1] !== quote) throw new Error('invalid syntax');
  const body = q.slice(1, -1);
  if (quote === '`') {
    if (body.includes('`')) throw new Error('invalid syntax');
    return body.replace(/\r/g, '');
  }
  if (quote !== '"' && quote !== "'") throw new Error('invalid syntax');
  if (quote === '"' && body.includes('\n')) throw new Error('invalid syntax');
  let out = '';
  for (let i = 0; i < body.length; ) {
    const [c, next] = unquoteChar(body, i, quote);
    out += c;
    i = next;
  }
  if (quote === "'" && [...out].length !== 1) throw new Error('invalid syntax');
  return out;
}

export interface NumberValue {
  isInt: boolean;
  isUint: boolean;
  isFloat: boolean;
  int: bigint;
  float: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Go's ParseInt/ParseUint with base 0 (0x, 0o, 0b, leading 0 octal, underscores only after a prefix). */
function parseGoInt(text: string): bigint | undefined {
  let s = text;
  let neg = false;
  if (s[0] === '+' || s[0] === '-') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let digits: string;
  let base: number;
  const lower = s.toLowerCase();
  if (lower.startsWith('0x')) [base, digits] = [16, s.slice(2)];
  else if (lower.startsWith('0o')) [base, digits] = [8, s.slice(2)];
  else if (lower.startsWith('0b')) [base, digits] = [2, s.slice(2)];
  else if (s.length > 1 && s[0] === '0') [base, digits] = [8, s.slice(1)];
  else [base, digits] = [10, s];
  if (digits.includes('_')) {
    // underscores only between digits, or after a base prefix
    if (!(base === 10 ? /^[^_]+(_[^_]+)*$/ : /^_?[^_]+(_[^_]+)*$/).test(digits)) return undefined;
    digits = digits.replace(/_/g, '');
  }
  const valid = { 16: /^[0-9a-fA-F]+$/, 8: /^[0-7]+$/, 2: /^[01]+$/, 10: /^[0-9]+$/ }[base as 16 | 8 | 2 | 10];
  if (!valid.test(digits)) return undefined;
  const prefix = { 16: '0x', 8: '0o', 2: '0b', 10: '' }[base as 16 | 8 | 2 | 10];
  const v = BigInt(prefix + digits);
  return neg ? -v : v;
}

/** parse.newNumber: which of int, uint and float a number literal is. */
export function parseNumber(text: string, isChar: boolean, isComplex: boolean): NumberValue {
  if (isChar) {
    const c = goUnquote(text);
    const cp = BigInt(c.codePointAt(0)!);
    return { isInt: true, isUint: true, isFloat: true, int: cp, float: Number(cp) };
  }
  if (isComplex || text.endsWith('i')) throw new Unsupported(`the complex number ${text}`);
  const n: NumberValue = { isInt: false, isUint: false, isFloat: false, int: 0n, float: 0 };
  const i = parseGoInt(text);
  if (i !== undefined) {
    if (i >= 0n && i <= UINT64_MAX) n.isUint = true;
    if (i >= INT64_MIN && i <= INT64_MAX) {
      n.isInt = true;
      n.int = i;
    }
  }
  if (n.isInt) {
    n.isFloat = true;
    n.float = Number(n.int);
  } else if (n.isUint) {
    n.isFloat = true;
    n.float = Number(i);
  } else {
    if (/[pP]|^[+-]?0[xX]/.test(text) || text.includes('_')) throw new Unsupported(`the number literal ${text}`);
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
      if (!/[.eE]/.test(text)) throw new Error(`integer overflow: ${JSON.stringify(text)}`);
      const f = Number(text);
      if (!Number.isFinite(f)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(text)}: value out of range`);
      n.isFloat = true;
      n.float = f;
      if (Number.isInteger(f) && f >= -(2 ** 63) && f < 2 ** 63) {
        n.isInt = true;
        n.int = BigInt(f);
      }
      if (Number.isInteger(f) && f >= 0 && f < 2 ** 64) n.isUint = true;
    }
  }
  if (!n.isInt && !n.isUint && !n.isFloat) throw new Error(`illegal number syntax: ${JSON.stringify(text)}`);
  return n;
}
