// confd 0.17's file backend, reading YAML as it does (gopkg.in/yaml.v2 into interface{}, then
// nodeWalk): nested maps and lists become "/a/b" and "/a/0" keys; a plain scalar is resolved by
// yaml.v2's YAML 1.1 rules (yes/on → "true", 0777 → "511", 1.5e3 → "1500", ~ → no key, a
// timestamp stays text) and printed as Go prints it. What confd would crash on or read
// differently (a non-string map key, merge keys, tags) is refused naming the file.
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { KVError } from '../errors.js';

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
const TRUE = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const FALSE = new Set(['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);
const INF = new Map([['.inf', '+Inf'], ['.Inf', '+Inf'], ['.INF', '+Inf'], ['+.inf', '+Inf'], ['+.Inf', '+Inf'], ['+.INF', '+Inf'], ['-.inf', '-Inf'], ['-.Inf', '-Inf'], ['-.INF', '-Inf'], ['.nan', 'NaN'], ['.NaN', 'NaN'], ['.NAN', 'NaN']]);
const GO_INT = /^[+-]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/;
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const TIMESTAMP = /^\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]|[ \t]+)\d{1,2}:\d{2}:\d{2}(?:\.\d*)?(?:[ \t]*(?:Z|[+-]\d{1,2}(?::\d{2})?))?)?$/;
const INT64 = 2n ** 63n;

/** strconv.FormatFloat(x, 'f', -1, 64): the shortest digits, never an exponent. */
export function goFloatText(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  const [mant, exp] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const point = Number(exp) + 1;
  const text = point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? digits + '0'.repeat(point - digits.length) : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (x < 0 || Object.is(x, -0) ? '-' : '') + text;
}

/** What yaml.v2 resolves a plain scalar to, and how nodeWalk prints it (no text: no key). */
export function resolvePlain(s: string): { kind: 'null' | 'bool' | 'float' | 'int' | 'uint' | 'str'; text?: string } {
  if (NULLS.has(s)) return { kind: 'null' };
  if (TRUE.has(s)) return { kind: 'bool', text: 'true' };
  if (FALSE.has(s)) return { kind: 'bool', text: 'false' };
  if (INF.has(s)) return { kind: 'float', text: INF.get(s)! };
  const first = s[0] ?? '';
  if (first === '.') return /^\.\d+([eE][-+]?\d+)?$/.test(s) ? { kind: 'float', text: goFloatText(Number(s)) } : { kind: 'str', text: s };
  if (!/[0-9+-]/.test(first) || TIMESTAMP.test(s)) return { kind: 'str', text: s };
  const plain = s.replace(/_/g, '');
  if (GO_INT.test(plain)) {
    const neg = plain.startsWith('-');
    const body = plain.replace(/^[+-]/, '');
    const v = body.length > 1 && body[0] === '0' && /^[0-7]+$/.test(body.slice(1)) ? BigInt(`0o${body.slice(1)}`) : BigInt(body);
    const n = neg ? -v : v;
    if (n >= -INT64 && n < INT64) return { kind: 'int', text: n.toString() };
    // a uint64: nodeWalk has no case for it
    if (n >= 0n && n < 2n ** 64n) return { kind: 'uint' };
  }
  if (YAML_FLOAT.test(plain)) return { kind: 'float', text: goFloatText(Number(plain)) };
  return { kind: 'str', text: s };
}

const joinKey = (key: string, part: string): string => {
  if (part === '') return key;
  const parts: string[] = [];
  for (const p of `${key}/${part}`.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return `/${parts.join('/')}`;
};

/** Every key (with "/") and value one YAML file holds, as confd reads it, into `vars` (later files win). */
export function flattenYaml(text: string, file: string, vars: Map<string, string>): void {
  const doc: Document = parseDocument(text, { version: '1.1', merge: false, uniqueKeys: false });
  const bad = (what: string): never => {
    throw new KVError('KV_CORRUPT', `${file}: ${what}`);
  };
  if (doc.errors.length) bad(`not YAML (${doc.errors[0]!.message.split('\n')[0]})`);
  const walk = (node: unknown, key: string): void => {
    if (isAlias(node)) return walk(node.resolve(doc), key);
    if (node === null || node === undefined) return;
    const n = node as Node;
    if (n.tag && !isScalar(n)) bad(`the tag ${n.tag} at ${key} (confd reads untagged YAML only here)`);
    if (isMap(n)) {
      for (const pair of n.items) {
        const resolved = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
        const k = isScalar(resolved) && !resolved.tag ? resolved : bad(`a map key under ${key} that is not plain text (confd stops on it)`);
        const text = k.type === 'PLAIN' ? String(k.source ?? '') : String(k.value);
        if (k.type === 'PLAIN' && text === '<<') bad(`a merge key (<<) under ${key} (not supported)`);
        if (k.type === 'PLAIN' && resolvePlain(text).kind !== 'str') bad(`the map key ${JSON.stringify(text)} under ${key} is not a string to YAML 1.1 (confd stops on it); quote it`);
        walk(pair.value, joinKey(key, text));
      }
      return;
    }
    if (isSeq(n)) {
      n.items.forEach((item, i) => walk(item, joinKey(key, String(i))));
      return;
    }
    if (isScalar(n)) {
      if (n.tag) bad(`the tag ${n.tag} at ${key} (confd reads untagged YAML only here)`);
      const text = n.type === 'PLAIN' ? resolvePlain(String(n.source ?? '')).text : String(n.value);
      if (text !== undefined) vars.set(key, text);
      return;
    }
    bad(`an unexpected YAML node at ${key}`);
  };
  const root = doc.contents;
  if (root === null) return;
  if (!isMap(root)) bad('the top level is not a map (confd needs one)');
  walk(root, '/');
}
