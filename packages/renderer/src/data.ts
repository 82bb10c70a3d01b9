// From a resource's confd keys to store prefixes, and from store pairs to template data.
// confd: a resource with prefix "/production" and keys ["/haproxy/mysqlslave"] reads the store's
// "production/haproxy/mysqlslave..." and its template sees "/haproxy/mysqlslave/...".
import type { KVPair, KVReader, KVSnapshot } from '@confd-haproxy/kv';

export interface TemplatePair {
  key: string;
  value: string;
  /** The store index that created the key: who claimed a listen name or port first (ownership.ts). */
  createIndex?: number;
}

const trimSlashes = (s: string) => s.replace(/^\/+/, '').replace(/\/+$/, '');

/** The store prefix (no leading slash) that holds a confd key under a confd prefix. */
export function storePrefix(prefix: string, key: string): string {
  return [trimSlashes(prefix), trimSlashes(key)].filter(Boolean).join('/');
}

/** The distinct store prefixes a resource reads; a prefix covered by another is dropped. */
export function storePrefixes(prefix: string, keys: readonly string[]): string[] {
  const all = [...new Set(keys.map((k) => storePrefix(prefix, k)))].sort();
  return all.filter((p, i) => !all.slice(0, i).some((q) => q === '' || p.startsWith(q)));
}

/** Template data: every pair under the resource's prefixes, keys relative to its prefix, with "/". */
export function templatePairs(prefix: string, snapshots: Iterable<{ pairs: readonly KVPair[] }>): TemplatePair[] {
  const base = trimSlashes(prefix);
  const seen = new Map<string, KVPair>();
  for (const snap of snapshots) {
    for (const p of snap.pairs) {
      if (base && !(p.key === base || p.key.startsWith(`${base}/`))) continue;
      const rel = base ? p.key.slice(base.length) : `/${p.key}`;
      seen.set(rel.startsWith('/') ? rel : `/${rel}`, p);
    }
  }
  return [...seen].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, p]) => ({ key, value: p.value, createIndex: p.createIndex }));
}

/** Read every prefix once; the data is fresh only if every answer came with a known leader. */
export async function readPrefixes(
  store: KVReader,
  prefixes: readonly string[],
  signal?: AbortSignal,
): Promise<{ snapshots: Map<string, KVSnapshot>; knownLeader: boolean }> {
  const snaps = await Promise.all(prefixes.map((p) => store.list(p, signal ? { signal } : {})));
  return {
    snapshots: new Map(prefixes.map((p, i) => [p, snaps[i]!])),
    knownLeader: snaps.every((s) => s.knownLeader),
  };
}
