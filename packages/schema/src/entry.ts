// The entry every checker writes and every template reads (design: "Entry, version 1").
// name/host/port/proxyport stay exactly as the original wrote them; the rest is added for new templates.
import { isPort } from './address.js';

export type ServerRole = 'active' | 'backup' | 'drain' | 'maint';

export interface EntryServer {
  host: string;
  port: number;
  weight: number;
  role: ServerRole;
}

/** The weight a checker gives a server it has no other weight for (HAProxy's range is 0..256). */
export const DEFAULT_WEIGHT = 100;

/**
 * Every field an entry may carry; `entryProblem` validates each. A new field is added here, in
 * `entryProblem`, then in the kind that writes it and the partial that reads it.
 */
export interface Entry {
  name: string;
  host: string;
  port: number;
  proxyport: number;
  servers: EntryServer[];
  /** Galera: the readers' bind port and their servers. */
  readerport?: number;
  readers?: EntryServer[];
  /** Galera: host:port of the nodes drained (donor), in maintenance, or down. */
  drained?: string[];
  maintenance?: string[];
  down?: string[];
  version: 1;
  checker: string;
  updated: string;
}

/** What a kind chooses; the checker core adds version, checker and updated. */
export type EntryBody = Omit<Entry, 'version' | 'checker' | 'updated'>;

/** A tag or cluster name: it becomes the last segment of haproxy/<kind>/<name> and a word of haproxy.cfg. */
export const TAG_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
const HOST_PATTERN = /^[A-Za-z0-9_.:[\]-]{1,255}$/;
export const SERVER_ROLES: readonly ServerRole[] = ['active', 'backup', 'drain', 'maint'];
/** HAProxy's weight range. */
const MAX_WEIGHT = 256;

/**
 * Who asks decides how complete an entry must be. `write`: as a checker writes it (servers listed,
 * each with weight and role). `read`: as a template may meet it — the original wrote only name,
 * host, port and proxyport, and the shipped templates fall back when servers, weight or role are absent.
 */
export type EntryUse = 'read' | 'write';

const isHost = (v: unknown): boolean => typeof v === 'string' && HOST_PATTERN.test(v);
const isWeight = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_WEIGHT;
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** The wording of a bad port: a checker's log names the range, a render error says what the value is not. */
const portProblem = (field: string, v: unknown, use: EntryUse): string =>
  use === 'write' ? `${field} ${String(v)} is not 1..65535` : `${field} ${show(v)} is not a port number (1..65535)`;

/**
 * Why a value must not be written (`write`, the default) or rendered (`read`) as an entry, or
 * undefined when it is good. Fields end up as words of haproxy.cfg lines: a space, '#' or a bad
 * port would change a line's meaning.
 */
export function entryProblem(value: unknown, use: EntryUse = 'write'): string | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return 'the entry is not an object';
  const e = value as Record<string, unknown>;
  return headProblem(e, use) ?? listProblem(e, 'servers', use) ?? listProblem(e, 'readers', use) ?? nodeListProblem(e);
}

/** drained / maintenance / down: lists of host:port words, when present. */
function nodeListProblem(e: Record<string, unknown>): string | undefined {
  for (const list of ['drained', 'maintenance', 'down'] as const) {
    const v = e[list];
    if (v === undefined) continue;
    if (!Array.isArray(v)) return `${list} is not an array`;
    const bad = v.find((x) => typeof x !== 'string' || !HOST_PATTERN.test(x));
    if (bad !== undefined) return `${list} holds ${show(bad)}, not host:port`;
  }
  return undefined;
}

/** The four fields the original wrote, and the reader port. */
function headProblem(e: Record<string, unknown>, use: EntryUse): string | undefined {
  if (typeof e.name !== 'string' || !TAG_PATTERN.test(e.name)) return `name ${show(e.name)} is not [A-Za-z0-9_.-]{1,128}`;
  if (!isHost(e.host)) return `host ${show(e.host)} is not a host name or address`;
  if (!isPort(e.port)) return portProblem('port', e.port, use);
  if (!isPort(e.proxyport)) return portProblem('proxyport', e.proxyport, use);
  if (e.readerport !== undefined && !isPort(e.readerport)) return portProblem('readerport', e.readerport, use);
  // Two binds on one port would split its connections between the writer and the readers.
  if (e.readerport !== undefined && e.readerport === e.proxyport) return `readerport ${String(e.readerport)} is also its proxyport`;
  return undefined;
}

/** servers / readers: a list of host:port with weight and role; a written entry always has servers. */
function listProblem(e: Record<string, unknown>, list: 'servers' | 'readers', use: EntryUse): string | undefined {
  const servers = e[list];
  if (servers === undefined && (list === 'readers' || use === 'read')) return undefined;
  if (!Array.isArray(servers)) return `${list} is not an array`;
  if (servers.length === 0 && list === 'servers' && use === 'write') return 'servers is empty';
  for (const [i, s] of servers.entries()) {
    const problem = serverProblem(s, `${list}[${i}]`, use);
    if (problem) return problem;
  }
  return undefined;
}

/** The first bad field of one server, worded for its use. */
function serverProblem(s: unknown, at: string, use: EntryUse): string | undefined {
  if (!s || typeof s !== 'object') return `${at} is not an object`;
  const { host, port, weight, role } = s as Record<string, unknown>;
  const required = use === 'write';
  const bad: keyof typeof SERVER_RULES | undefined = !isHost(host)
    ? 'host'
    : !isPort(port)
      ? 'port'
      : (weight !== undefined || required) && !isWeight(weight)
        ? 'weight'
        : (role !== undefined || required) && !SERVER_ROLES.includes(role as ServerRole)
          ? 'role'
          : undefined;
  if (bad === undefined) return undefined;
  const value = { host, port, weight, role }[bad];
  // A checker's log names the server; a render error names the field of the stored value.
  if (use === 'write') return `server ${isHost(host) ? String(host) : show(host)}:${show(port)} ${SERVER_RULES[bad].write(value)}`;
  return `${at}.${bad} ${show(value)} is not ${SERVER_RULES[bad].read}`;
}

const SERVER_RULES = {
  host: { read: 'a host name or address', write: () => 'is not host:port' },
  port: { read: 'a port number (1..65535)', write: () => 'is not host:port' },
  weight: { read: `0..${MAX_WEIGHT}`, write: (v: unknown) => `has weight ${show(v)} (0..${MAX_WEIGHT}, HAProxy's range)` },
  role: { read: 'active, backup, drain or maint', write: (v: unknown) => `has role ${show(v)} (${SERVER_ROLES.join(', ')})` },
};

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

/** Parse a stored entry; undefined when it is absent or not an entry (then a checker replaces it). */
export function parseEntry(value: string | undefined): Entry | undefined {
  if (value === undefined) return undefined;
  try {
    const e = JSON.parse(value) as Entry;
    return e && typeof e === 'object' && typeof e.host === 'string' && Number.isInteger(e.port) ? e : undefined;
  } catch {
    return undefined;
  }
}
