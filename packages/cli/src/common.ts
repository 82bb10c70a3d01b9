// What every bin shares: exit codes, durations, the logger, and the store flags.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino, destination, type Logger } from 'pino';
import type { StoreOptions } from '@confd-haproxy/kv';

/** One exit-code table for every bin (README: "Exit codes"). */
export const EXIT = {
  OK: 0,
  /** The job failed: render, check, reload, store. */
  FAILED: 1,
  /** `plan` / `-noop`: changes are pending. */
  PENDING: 2,
  /** Bad usage: unknown flag, bad flag value. */
  USAGE: 64,
  /** Bad input: config file, template, KV data. */
  DATA: 65,
  /** checkmemcached without --server/--consul, as the original. */
  MEMCACHED_USAGE: 254,
} as const;

/** A usage error: the bin prints it and exits 64. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "1s", "1.5s", "2m", or a bare number of `bareUnit`s → milliseconds. */
export function parseDuration(text: string, flag: string, bareUnit: 'ms' | 's' = 's'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text).trim());
  if (!m) throw new UsageError(`${flag}: "${text}" is not a duration (e.g. 500ms, 1s, 2m)`);
  const ms = Number(m[1]) * (UNITS[m[2] ?? bareUnit] ?? 1);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: "${text}" is not a duration`);
  return Math.round(ms);
}

export type LogFormat = 'text' | 'json';

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** The original's timestamp: [2017-10-16T16:03:34], local time. */
export function originalStamp(d = new Date()): string {
  return `[${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}]`;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** Text lines in the original's style: "[2017-10-16T16:03:34] slave3301 in consul is ok". */
function textDestination(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          const level = Number(rec.level);
          const extra = Object.entries(rec)
            .filter(([k]) => !SKIP.has(k))
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          const tag = level >= 40 ? `${LEVELS[level] ?? level} ` : '';
          out.write(`${originalStamp(new Date(Number(rec.time)))} ${tag}${String(rec.msg ?? '')}${extra ? ` ${extra}` : ''}\n`);
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
}

export interface LoggerOptions {
  format?: LogFormat;
  level?: string;
  /** Defaults to stderr for the renderer and stdout for checkers (as the original printed). */
  stream?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const stream = opts.stream ?? process.stdout;
  if (opts.format === 'json') return pino({ level, base: { pid: process.pid } }, destination({ dest: stream === process.stderr ? 2 : 1, sync: true }));
  return pino({ level, base: undefined }, textDestination(stream));
}

export function parseLogFormat(text: string): LogFormat {
  if (text === 'text' || text === 'json') return text;
  throw new UsageError(`--log-format: "${text}" is not text or json`);
}

/** A secret from a file flag (--token-file, --password-file): the file's first line, trimmed. */
export function readFirstLine(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n')[0]!.trim();
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path} (${(err as Error).message})`);
  }
}

export interface StoreFlags {
  backend?: string;
  /** consul address(es): -node, --consul */
  node?: string[] | string;
  file?: string;
  token?: string;
  tokenFile?: string;
  scheme?: string;
  clientCert?: string;
  clientKey?: string;
  clientCaKeys?: string;
  /** etcd authentication (confd's -basic-auth -username -password). */
  basicAuth?: boolean;
  username?: string;
  password?: string;
  /** etcd key layout: confd (keys under "/", the default) or bare. */
  etcdLayout?: string;
}

/** The flags each backend honours; any other store flag given with it is a usage error. */
const HONOURED: Record<'consul' | 'etcd' | 'file', ReadonlySet<keyof StoreFlags>> = {
  consul: new Set(['node', 'token', 'tokenFile', 'scheme', 'clientCert', 'clientKey', 'clientCaKeys']),
  etcd: new Set(['node', 'scheme', 'clientCert', 'clientKey', 'clientCaKeys', 'basicAuth', 'username', 'password', 'etcdLayout']),
  file: new Set(['file']),
};

const FLAG_NAMES: Record<keyof StoreFlags, string> = {
  backend: '--backend',
  node: '--node',
  file: '--file',
  token: '--auth-token/--token',
  tokenFile: '--token-file',
  scheme: '--scheme',
  clientCert: '--client-cert',
  clientKey: '--client-key',
  clientCaKeys: '--client-ca-keys',
  basicAuth: '--basic-auth',
  username: '--username/--etcd-username',
  password: '--password/--etcd-password-file',
  etcdLayout: '--etcd-layout',
};

const given = (v: unknown) => v !== undefined && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0);

/** A store flag the chosen backend would ignore is refused, never silently dropped. */
function refuseUnhonoured(backend: 'consul' | 'etcd' | 'file', f: StoreFlags): void {
  const ignored = (Object.keys(FLAG_NAMES) as (keyof StoreFlags)[]).filter((k) => k !== 'backend' && given(f[k]) && !HONOURED[backend].has(k));
  if (ignored.length) throw new UsageError(`${ignored.map((k) => FLAG_NAMES[k]).join(', ')}: not used by --backend ${backend}; remove ${ignored.length > 1 ? 'them' : 'it'} or choose the backend that uses ${ignored.length > 1 ? 'them' : 'it'}`);
}

const nodeList = (node: StoreFlags['node']) => (Array.isArray(node) ? node : node ? [node] : []);

function schemeOf(f: StoreFlags): 'http' | 'https' | undefined {
  if (f.scheme === undefined) return undefined;
  if (f.scheme === 'http' || f.scheme === 'https') return f.scheme;
  throw new UsageError(`--scheme: "${f.scheme}" is not http or https`);
}

function etcdOptions(f: StoreFlags): StoreOptions {
  if (f.basicAuth && !f.username) throw new UsageError('--basic-auth needs --username and --password');
  if (Boolean(f.username) !== Boolean(f.password)) throw new UsageError('--username and --password go together');
  if (Boolean(f.clientCert) !== Boolean(f.clientKey)) throw new UsageError('--client-cert and --client-key go together');
  if (f.etcdLayout !== undefined && f.etcdLayout !== 'confd' && f.etcdLayout !== 'bare') throw new UsageError(`--etcd-layout: "${f.etcdLayout}" is not confd or bare`);
  const scheme = schemeOf(f);
  const nodes = nodeList(f.node).map((n) => (scheme && !/^[a-z]+:\/\//.test(n) ? `${scheme}://${n}` : n));
  return {
    backend: 'etcd',
    ...(nodes.length ? { nodes } : {}),
    ...(f.clientCaKeys ? { caFile: f.clientCaKeys } : {}),
    ...(f.clientCert ? { certFile: f.clientCert } : {}),
    ...(f.clientKey ? { keyFile: f.clientKey } : {}),
    ...(f.username ? { username: f.username, password: f.password! } : {}),
    ...(f.etcdLayout ? { layout: f.etcdLayout as 'confd' | 'bare' } : {}),
  };
}

/** Store flags → StoreOptions; the environment is read here, at the edge, never in libraries. */
export function storeOptionsFromFlags(f: StoreFlags, env: NodeJS.ProcessEnv = process.env): StoreOptions {
  const backend = f.backend ?? (f.file ? 'file' : 'consul');
  if (backend !== 'consul' && backend !== 'etcd' && backend !== 'file') throw new UsageError(`--backend: "${backend}" is not consul, etcd or file`);
  refuseUnhonoured(backend, f);
  if (backend === 'file') {
    if (!f.file) throw new UsageError('--backend file needs --file <kv.json>');
    return { backend: 'file', file: f.file };
  }
  if (backend === 'etcd') return etcdOptions(f);
  const nodes = nodeList(f.node);
  const scheme = schemeOf(f);
  return {
    backend: 'consul',
    env,
    ...(nodes[0] ? { address: nodes[0] } : {}),
    ...(scheme ? { scheme } : {}),
    ...(f.token ? { token: f.token } : {}),
    ...(f.tokenFile ? { tokenFile: f.tokenFile } : {}),
    ...(f.clientCaKeys ? { caFile: f.clientCaKeys } : {}),
    ...(f.clientCert ? { certFile: f.clientCert } : {}),
    ...(f.clientKey ? { keyFile: f.clientKey } : {}),
  };
}
