// The entry every checker writes (design: "Entry, version 1"). name/host/port/proxyport stay
// exactly as the original wrote them; the rest is added for new templates.
export type ServerRole = 'active' | 'backup' | 'drain' | 'maint';

export interface EntryServer {
  host: string;
  port: number;
  weight: number;
  role: ServerRole;
}

export interface Entry {
  name: string;
  host: string;
  port: number;
  proxyport: number;
  servers: EntryServer[];
  version: 1;
  checker: string;
  updated: string;
  [extra: string]: unknown;
}

/** A tag or cluster name: it becomes the last segment of haproxy/<kind>/<name> and a word of haproxy.cfg. */
export const TAG_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * A store key under a prefix (the renderer's --prefix, confd's prefix): "/prod/" and "haproxy/x"
 * give "prod/haproxy/x"; no prefix gives the key itself.
 */
export function prefixedKey(prefix: string | undefined, key: string): string {
  const p = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return p ? `${p}/${key}` : key;
}

/** Why a key prefix is unusable, or undefined: segments of letters, digits, _ . - (not . or ..). */
export function prefixProblem(prefix: string): string | undefined {
  const p = prefix.replace(/^\/+|\/+$/g, '');
  if (p === '') return undefined;
  const bad = p.split('/').find((seg) => !TAG_PATTERN.test(seg) || seg === '.' || seg === '..');
  return bad === undefined ? undefined : `"${prefix}" is not a key prefix (segments of letters, digits, _ . -; "${bad}" is not one)`;
}
const HOST = /^[A-Za-z0-9_.:[\]-]{1,255}$/;
const ROLES = new Set<string>(['active', 'backup', 'drain', 'maint']);
const isPort = (p: unknown) => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;

/** Why an entry must not be written, or undefined when it is good. A checker never writes garbage. */
export function entryProblem(e: Entry): string | undefined {
  if (!TAG_PATTERN.test(e.name)) return `name "${e.name}" is not [A-Za-z0-9_.-]{1,128}`;
  if (!HOST.test(e.host)) return `host "${e.host}" is not a host name or address`;
  if (!isPort(e.port)) return `port ${String(e.port)} is not 1..65535`;
  if (!isPort(e.proxyport)) return `proxyport ${String(e.proxyport)} is not 1..65535`;
  if (!Array.isArray(e.servers) || e.servers.length === 0) return 'servers is empty';
  if (e.readerport !== undefined && !isPort(e.readerport)) return `readerport ${String(e.readerport)} is not 1..65535`;
  if (e.readers !== undefined && !Array.isArray(e.readers)) return 'readers is not a list';
  for (const s of [...e.servers, ...((e.readers as EntryServer[] | undefined) ?? [])]) {
    if (!HOST.test(s.host) || !isPort(s.port)) return `server ${s.host}:${s.port} is not host:port`;
    if (!ROLES.has(s.role)) return `server ${s.host}:${s.port} has role "${s.role}" (active, backup, drain, maint)`;
    if (!Number.isInteger(s.weight) || s.weight < 0 || s.weight > 256) return `server ${s.host}:${s.port} has weight ${String(s.weight)} (0..256, HAProxy's range)`;
  }
  return undefined;
}

/** The part of an entry that matters: two entries that differ only in checker/updated are equal. */
export function sameEntry(a: Partial<Entry> | undefined, b: Partial<Entry> | undefined): boolean {
  if (!a || !b) return a === b;
  const strip = ({ checker: _c, updated: _u, ...rest }: Partial<Entry>) => canonical(rest);
  return strip(a) === strip(b);
}

/** JSON with sorted keys: an entry written by another tool in another key order is the same entry. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Parse a stored entry; undefined when it is absent or not an entry (then it gets replaced). */
export function parseEntry(value: string | undefined): Entry | undefined {
  if (value === undefined) return undefined;
  try {
    const e = JSON.parse(value) as Entry;
    return e && typeof e === 'object' && typeof e.host === 'string' && Number.isInteger(e.port) ? e : undefined;
  } catch {
    return undefined;
  }
}

/** What a kind chooses; the core adds version, checker and updated. */
export type EntryBody = Pick<Entry, 'name' | 'host' | 'port' | 'proxyport' | 'servers'> & Record<string, unknown>;
