// db.conf, the original's INI: one section per tag; host/port are the MASTER.
import { readFileSync } from 'node:fs';
import { CheckerError, readConfigFile } from '@confd-haproxy/checker';
import { entryKey, TAG_PATTERN } from '@confd-haproxy/schema';
import type { MysqlTls } from './connections.js';

export const MYSQL_PROXYPORT_OFFSET = 10050;

export interface MysqlTagConfig {
  tag: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** Read for compatibility; the checks connect without a default database. */
  database?: string;
  charset?: string;
  /** Static replica list (replicas = host:port,host:port). */
  replicas: { host: string; port: number }[];
  proxyport: number;
  /** Seconds; overrides --max-lag for this tag. */
  maxLag?: number;
  /** TLS to the master and replicas (ssl, ssl-ca, ssl-cert, ssl-key, ssl-verify-server-cert). */
  tls?: MysqlTls;
  /** Settings the checker ignores (other tools may share db.conf), for the bin to log. */
  warnings: string[];
}

const KNOWN = new Set(['database', 'host', 'port', 'user', 'password', 'default-character-set', 'replicas', 'proxyport', 'max_lag', 'ssl', 'ssl-ca', 'ssl-cert', 'ssl-key', 'ssl-verify-server-cert']);

/** A PEM file named by a setting, read now: a bad path is a config error naming the setting. */
export function readPemSetting(path: string, where: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CheckerError('CHECKER_CONFIG', `${where}: cannot read ${path} (${(err as Error).message})`, { cause: err });
  }
}

const onOff = (v: unknown, where: string): boolean => {
  const s = String(v).trim().toLowerCase();
  if (['1', 'on', 'true', 'yes', ''].includes(s)) return true;
  if (['0', 'off', 'false', 'no'].includes(s)) return false;
  throw new CheckerError('CHECKER_CONFIG', `${where} "${String(v)}" is not 1/0 (on/off)`);
};

/** TLS from the MySQL client's option names; on with ssl = 1 or any ssl-* file, verified unless ssl-verify-server-cert = 0. */
function tlsSettings(s: Record<string, unknown>, where: (k: string) => string): MysqlTls | undefined {
  const files = (['ssl-ca', 'ssl-cert', 'ssl-key'] as const).filter((k) => s[k] !== undefined && s[k] !== '');
  const verify = s['ssl-verify-server-cert'] === undefined ? true : onOff(s['ssl-verify-server-cert'], where('ssl-verify-server-cert'));
  const enabled = s.ssl === undefined ? files.length > 0 : onOff(s.ssl, where('ssl'));
  if (!enabled) {
    if (files.length) throw new CheckerError('CHECKER_CONFIG', `${where('ssl')} = 0 but ${files.join(', ')} ${files.length > 1 ? 'are' : 'is'} set: remove them or set ssl = 1`);
    return undefined;
  }
  if (Boolean(s['ssl-cert']) !== Boolean(s['ssl-key'])) throw new CheckerError('CHECKER_CONFIG', `${where(s['ssl-cert'] ? 'ssl-key' : 'ssl-cert')} is required with ${s['ssl-cert'] ? 'ssl-cert' : 'ssl-key'} (a client certificate needs its key)`);
  const pem = (k: 'ssl-ca' | 'ssl-cert' | 'ssl-key') => (s[k] ? readPemSetting(String(s[k]), where(k)) : undefined);
  const [ca, cert, key] = [pem('ssl-ca'), pem('ssl-cert'), pem('ssl-key')];
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    verify,
  };
}

const HOST = /^[A-Za-z0-9_.:-]{1,255}$/;

const port = (v: unknown, where: string): number => {
  const s = String(v ?? '').trim();
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new CheckerError('CHECKER_CONFIG', `${where} "${s}" is not a port (1..65535)`);
  return Number(s);
};

/**
 * Parse db.conf as the original's Config::IniFiles did: `[section]`, `key = value`, whole-line
 * `#`/`;` comments, values verbatim (a `;` or `#` inside a password is part of it).
 */
export function parseDbConf(text: string, file: string): Record<string, Record<string, unknown>> {
  const doc: Record<string, Record<string, unknown>> = Object.create(null) as Record<string, Record<string, unknown>>;
  let section: Record<string, unknown> | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const head = /^\[\s*([^\]]*?)\s*\]$/.exec(line);
    if (head) {
      section = doc[head[1]!] ??= Object.create(null) as Record<string, unknown>;
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new CheckerError('CHECKER_CONFIG', `${file}:${i + 1}: expected [section] or key = value, found "${line.slice(0, 60)}"`);
    if (!section) throw new CheckerError('CHECKER_CONFIG', `${file}:${i + 1}: "${line.slice(0, eq).trim()}" is outside any [section]`);
    section[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  });
  return doc;
}

export function readDbConf(file: string): Record<string, Record<string, unknown>> {
  return parseDbConf(readConfigFile(file), file);
}

export function tagConfig(file: string, doc: Record<string, Record<string, unknown>>, tag: string): MysqlTagConfig {
  const s = doc[tag];
  if (!s || typeof s !== 'object') {
    const known = Object.keys(doc).filter((k) => typeof doc[k] === 'object');
    throw new CheckerError('CHECKER_CONFIG', `${file}: no section [${tag}] (sections: ${known.join(', ') || 'none'})`);
  }
  const where = (k: string) => `${file}: [${tag}] ${k}`;
  if (!TAG_PATTERN.test(tag)) throw new CheckerError('CHECKER_CONFIG', `${file}: [${tag}] is not a usable tag (letters, digits, _ . -; it becomes the key ${entryKey('mysqlslave', '<tag>')})`);
  // Other tools may keep their own settings in db.conf: ignored, but named so a typo shows.
  const warnings = Object.keys(s)
    .filter((k) => !KNOWN.has(k))
    .map((k) => `${where(k)} is not a checkmysqlslave setting and is ignored (known: ${[...KNOWN].join(', ')})`);
  for (const k of ['host', 'port', 'user']) if (s[k] === undefined || s[k] === '') throw new CheckerError('CHECKER_CONFIG', `${where(k)} is required`);
  if (!HOST.test(String(s.host))) throw new CheckerError('CHECKER_CONFIG', `${where('host')} "${String(s.host)}" is not a host name or address`);
  const p = port(s.port, where('port'));
  const replicas = String(s.replicas ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((hp) => {
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(hp);
      if (!m) throw new CheckerError('CHECKER_CONFIG', `${where('replicas')}: "${hp}" is not host:port`);
      const host = m[1]!.replace(/^\[|\]$/g, '');
      if (!HOST.test(host)) throw new CheckerError('CHECKER_CONFIG', `${where('replicas')}: "${hp}" is not host:port`);
      return { host, port: port(m[2], where('replicas')) };
    });
  const tls = tlsSettings(s, where);
  const maxLag = s.max_lag === undefined || s.max_lag === '' ? undefined : Number(s.max_lag);
  if (maxLag !== undefined && !(Number.isFinite(maxLag) && maxLag >= 0)) throw new CheckerError('CHECKER_CONFIG', `${where('max_lag')} "${String(s.max_lag)}" is not a number of seconds`);
  return {
    tag,
    host: String(s.host),
    port: p,
    user: String(s.user),
    password: String(s.password ?? ''),
    ...(s.database ? { database: String(s.database) } : {}),
    ...(s['default-character-set'] ? { charset: String(s['default-character-set']) } : {}),
    replicas,
    proxyport: s.proxyport === undefined || s.proxyport === '' ? p + MYSQL_PROXYPORT_OFFSET : port(s.proxyport, where('proxyport')),
    ...(maxLag !== undefined ? { maxLag } : {}),
    ...(tls ? { tls } : {}),
    warnings,
  };
}

/** Every section that looks like a tag (for --all-tags). */
export function allTags(doc: Record<string, Record<string, unknown>>): string[] {
  return Object.keys(doc).filter((k) => typeof doc[k] === 'object' && doc[k] !== null);
}
