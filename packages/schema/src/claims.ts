// Entries own their key: an entry speaks only for haproxy/<kind>/<its name>, and what it makes a
// template render (listen names, bind ports) belongs to it alone within one resource. These are
// the rules; the renderer decides who keeps a name or port when two entries claim it.
import type { Entry } from './entry.js';

/** One thing an entry takes in the haproxy.cfg it renders into: a listen name or a bind port. */
export interface EntryClaim {
  /** Equal for two claims that collide: "listen:<name>" or "port:<n>". */
  id: string;
  /** How a message names it: `listen main-writer`, `proxyport 13306`. */
  what: string;
}

/** The last segment of a key: haproxy/<kind>/<tag> → tag. */
export const keyTag = (key: string): string => key.slice(key.lastIndexOf('/') + 1);

/** The segment before the tag: haproxy/<kind>/<tag> → kind. */
export function keyKind(key: string): string {
  const parent = key.slice(0, Math.max(0, key.lastIndexOf('/')));
  return keyTag(parent);
}

/** Why `e` may not be stored under `key` (its name is not the key's tag), or undefined. */
export function ownerProblem(key: string, e: Pick<Entry, 'name'>): string | undefined {
  const tag = keyTag(key);
  if (e.name === tag) return undefined;
  return `name ${JSON.stringify(e.name)} is not the key's tag ${JSON.stringify(tag)} (an entry speaks only for its own key)`;
}

/**
 * The listen names the shipped templates (templates/partials/*.hbs) render for the entry named
 * `name` under `key`: a galera cluster's `<name>-writer` and `<name>-reader`, every other kind's `<name>`.
 */
export function listenNames(key: string, name = keyTag(key)): string[] {
  return keyKind(key) === 'galera' ? [`${name}-writer`, `${name}-reader`] : [name];
}

const listen = (name: string): EntryClaim => ({ id: `listen:${name}`, what: `listen ${name}` });
const port = (field: string, n: number): EntryClaim => ({ id: `port:${n}`, what: `${field} ${n}` });

/**
 * The listen names and ports `key`'s entry makes the shipped templates render
 * (templates/partials/*.hbs): a galera entry `<name>-writer` on proxyport and, with a readerport,
 * `<name>-reader` on it; every other kind `<name>` on proxyport.
 */
export function entryClaims(key: string, e: Pick<Entry, 'name' | 'proxyport'> & { readerport?: unknown }): EntryClaim[] {
  const [main, reader] = listenNames(key, e.name);
  const readerClaims = reader !== undefined && typeof e.readerport === 'number' && e.readerport > 0 ? [listen(reader), port('readerport', e.readerport)] : [];
  return [listen(main!), port('proxyport', e.proxyport), ...readerClaims];
}
