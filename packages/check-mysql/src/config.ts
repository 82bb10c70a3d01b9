// db.conf, the original's INI: one section per tag; host/port are the MASTER.
import { readFileSync } from 'node:fs';
import { parse } from 'ini';
import { CheckerError } from '@confd-haproxy/checker';

export const MYSQL_PROXYPORT_OFFSET = 10050;

export interface MysqlTagConfig {
  tag: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
  charset?: string;
  /** Static replica list (replicas = host:port,host:port). */
  replicas: { host: string; port: number }[];
  proxyport: number;
  /** Seconds; overrides --max-lag for this tag. */
  maxLag?: number;
}

const KNOWN = new Set(['database', 'host', 'port', 'user', 'password', 'default-character-set', 'replicas', 'proxyport', 'max_lag']);

const port = (v: unknown, where: string): number => {
  const s = String(v ?? '').trim();
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new CheckerError('CHECKER_CONFIG', `${where} "${s}" is not a port (1..65535)`);
  return Number(s);
};

export function readDbConf(file: string): Record<string, Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CheckerError('CHECKER_CONFIG', `${file}: cannot read (${(err as Error).message})`, { cause: err });
  }
  return parse(text) as Record<string, Record<string, unknown>>;
}

export function tagConfig(file: string, doc: Record<string, Record<string, unknown>>, tag: string): MysqlTagConfig {
  const s = doc[tag];
  if (!s || typeof s !== 'object') {
    const known = Object.keys(doc).filter((k) => typeof doc[k] === 'object');
    throw new CheckerError('CHECKER_CONFIG', `${file}: no section [${tag}] (sections: ${known.join(', ') || 'none'})`);
  }
  const where = (k: string) => `${file}: [${tag}] ${k}`;
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new CheckerError('CHECKER_CONFIG', `${where(k)} is not a known setting (${[...KNOWN].join(', ')})`);
  for (const k of ['host', 'port', 'user']) if (s[k] === undefined || s[k] === '') throw new CheckerError('CHECKER_CONFIG', `${where(k)} is required`);
  const p = port(s.port, where('port'));
  const replicas = String(s.replicas ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((hp) => {
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(hp);
      if (!m) throw new CheckerError('CHECKER_CONFIG', `${where('replicas')}: "${hp}" is not host:port`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port: port(m[2], where('replicas')) };
    });
  const maxLag = s.max_lag === undefined ? undefined : Number(s.max_lag);
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
    proxyport: s.proxyport === undefined ? p + MYSQL_PROXYPORT_OFFSET : port(s.proxyport, where('proxyport')),
    ...(maxLag !== undefined ? { maxLag } : {}),
  };
}

/** Every section that looks like a tag (for --all-tags). */
export function allTags(doc: Record<string, Record<string, unknown>>): string[] {
  return Object.keys(doc).filter((k) => typeof doc[k] === 'object' && doc[k] !== null);
}
