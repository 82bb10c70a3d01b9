// What every bin shares: exit codes, durations, the logger, and the store flags.
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { Writable } from 'node:stream';
import bytes from 'bytes';
import type { Command } from 'commander';
import { pino, destination, type Logger } from 'pino';
import { durationMs, EXIT, exitCodeOf, NoInputError, UsageError } from '@confd-haproxy/base';
import { isStoreBackend, isYamlPath, STORE_BACKENDS, type StoreBackend, type StoreOptions } from '@confd-haproxy/kv';

// The exit-code table and the usage errors live in base, for every package; the bins take them from here.
export { EXIT, NoInputError, UsageError } from '@confd-haproxy/base';

/** The exit code for what a bin's program threw, printed once (commander has printed its own). */
export function exitFor(bin: string, err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version') return EXIT.OK;
  if (typeof code === 'string' && code.startsWith('commander.')) return EXIT.USAGE;
  stderr.write(`${bin}: ${(err as { message?: string } | undefined)?.message ?? String(err)}\n`);
  return exitCodeOf(err);
}

/** A flag's duration (base's one grammar: "1m30s", "500ms", or a bare number of `bareUnit`s) → milliseconds. */
export function parseDuration(text: string, flag: string, bareUnit: 'ms' | 's' = 's'): number {
  const ms = durationMs(String(text), bareUnit);
  if (ms === undefined) throw new UsageError(`${flag}: "${text}" is not a duration (e.g. 500ms, 1s, 1m30s)`);
  return ms;
}

/** "64MB", "512KB", "1GB" (the `bytes` package's units: 1 KB = 1024 bytes) or a bare number of bytes → bytes. */
export function parseSize(text: string, flag: string): number {
  const s = String(text).trim();
  const n = /^\d+(\.\d+)?\s*([kmgtp]?b)?$/i.test(s) ? bytes.parse(s) : null;
  if (n === null || !Number.isFinite(n)) throw new UsageError(`${flag}: "${text}" is not a size (e.g. 64MB, 512KB, 1048576)`);
  return n;
}

export type LogFormat = 'text' | 'json';

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** The original's timestamp: [2017-10-16T16:03:34], local time. */
export function originalStamp(d = new Date()): string {
  return `[${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}]`;
}

const LEVELS: Record<string, string> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'FATAL' };
const WARN_OR_WORSE = new Set(['warn', 'error', 'fatal']);
/** Fields the message already says in words: JSON carries them, text lines leave them out. */
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'resource', 'dest', 'key', 'tag', 'server', 'outcome', 'err', 'durationMs', 'prefix', 'failures', 'reason', 'summary', 'fallback']);

/** Text lines in the original's style: "[2017-10-16T16:03:34] slave3301 in consul is ok". */
function textDestination(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          const level = String(rec.level);
          const extra = Object.entries(rec)
            .filter(([k]) => !SKIP.has(k))
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          const tag = WARN_OR_WORSE.has(level) ? `${LEVELS[level] ?? level} ` : '';
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

/** `err` as an operator reads it: its message and its code, no stack. */
function errField(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown };
  return { message: typeof e?.message === 'string' ? e.message : String(err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const stream = opts.stream ?? process.stdout;
  const common = { level, formatters: { level: (label: string) => ({ level: label }) }, serializers: { err: errField } };
  if (opts.format === 'json') return pino({ ...common, base: { pid: process.pid } }, jsonDestination(stream));
  return pino({ ...common, base: undefined }, textDestination(stream));
}

/** The process's own streams by file descriptor, written synchronously; any other stream (a test's) as it is. */
function jsonDestination(stream: NodeJS.WritableStream): NodeJS.WritableStream | ReturnType<typeof destination> {
  if (stream === process.stdout) return destination({ dest: 1, sync: true });
  if (stream === process.stderr) return destination({ dest: 2, sync: true });
  return stream;
}

/** confd's and pino's level names; confd's panic is pino's fatal, warning is warn. */
const LEVEL_ALIASES: Record<string, string> = { panic: 'fatal', fatal: 'fatal', error: 'error', warn: 'warn', warning: 'warn', info: 'info', debug: 'debug', trace: 'trace' };

export function parseLogLevel(text: string): string {
  const level = LEVEL_ALIASES[String(text).trim().toLowerCase()];
  if (!level) throw new UsageError(`--log-level: "${text}" is not one of panic, fatal, error, warn, warning, info, debug, trace`);
  return level;
}

export function parseLogFormat(text: string): LogFormat {
  if (text === 'text' || text === 'json') return text;
  throw new UsageError(`--log-format: "${text}" is not text or json`);
}

/** Who the default state dir is for (tests give their own). */
export interface StateDirUser {
  uid: number | undefined;
  env: NodeJS.ProcessEnv;
  home: () => string;
}

/**
 * --state-dir's default: root's /var/lib/confd-haproxy; anyone else's own state directory
 * ($XDG_STATE_HOME/confd-haproxy, else ~/.local/state/confd-haproxy), never a shared temporary one.
 */
export function defaultStateDir(who: StateDirUser = { uid: process.getuid?.(), env: process.env, home: homedir }): string {
  if (who.uid === 0) return '/var/lib/confd-haproxy';
  const xdg = who.env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'confd-haproxy');
  const home = who.env.HOME || who.home();
  if (!isAbsolute(home)) throw new UsageError('--state-dir: this user has no home directory to keep its state in; give --state-dir');
  return join(home, '.local', 'state', 'confd-haproxy');
}

/** A secret from a file flag (--token-file, --password-file): the file's first line, trimmed. */
export function readFirstLine(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n')[0]!.trim();
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path} (${(err as Error).message})`);
  }
}

/** Where a command writes: the process's streams, or a test's. */
export interface CommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export const processIO = (): CommandIO => ({ stdout: process.stdout, stderr: process.stderr });

/** The store's token file and TLS flags: the same names and meaning on the renderer and every checker. */
export function storeCredentialFlags(cmd: Command): Command {
  return cmd
    .option('--token-file <path>', 'read the Consul ACL token from a file')
    .option('--client-cert <path>', 'TLS client certificate for the store (Consul or etcd)')
    .option('--client-key <path>', 'TLS client key for the store')
    .option('--client-ca-keys <path>', 'TLS CA certificate the store\'s certificate is verified with');
}

export interface StoreFlags {
  backend?: string;
  /** consul address(es): -node, --consul */
  node?: string[] | string;
  /** The JSON store's file, or confd's YAML files and directories (repeatable). */
  file?: string | string[];
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
  /** Start an empty store when --file does not exist (otherwise a missing file is an error). */
  createFile?: boolean;
}

/** The flags each backend honours; any other store flag given with it is a usage error. */
const HONOURED: Record<StoreBackend, ReadonlySet<keyof StoreFlags>> = {
  consul: new Set(['node', 'token', 'tokenFile', 'scheme', 'clientCert', 'clientKey', 'clientCaKeys']),
  etcd: new Set(['node', 'scheme', 'clientCert', 'clientKey', 'clientCaKeys', 'basicAuth', 'username', 'password', 'etcdLayout']),
  file: new Set(['file', 'createFile']),
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
  createFile: '--create-file',
};

const given = (v: unknown) => v !== undefined && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0);

/** Only the store flags that were given: one left empty ("", false, no nodes) counts as not given. */
function givenStoreFlags(flags: StoreFlags): StoreFlags {
  return Object.fromEntries((Object.keys(FLAG_NAMES) as (keyof StoreFlags)[]).filter((k) => given(flags[k])).map((k) => [k, flags[k]]));
}

/** A store flag the chosen backend would ignore is refused, never silently dropped; given: the flags givenStoreFlags kept. */
function refuseUnhonoured(backend: StoreBackend, given: StoreFlags): void {
  const ignored = (Object.keys(given) as (keyof StoreFlags)[]).filter((k) => k !== 'backend' && !HONOURED[backend].has(k));
  if (ignored.length) throw new UsageError(`${ignored.map((k) => FLAG_NAMES[k]).join(', ')}: not used by --backend ${backend}; remove ${ignored.length > 1 ? 'them' : 'it'} or choose the backend that uses ${ignored.length > 1 ? 'them' : 'it'}`);
}

const nodeList = (node: StoreFlags['node']) => (Array.isArray(node) ? node : node ? [node] : []);

function schemeOf(f: StoreFlags): 'http' | 'https' | undefined {
  if (f.scheme === undefined) return undefined;
  if (f.scheme === 'http' || f.scheme === 'https') return f.scheme;
  throw new UsageError(`--scheme: "${f.scheme}" is not http or https`);
}

/** Each backend's flags → its options; the backend itself owns the defaults (addresses, schemes). */
type ToOptions = { [B in StoreBackend]: (f: StoreFlags, env: NodeJS.ProcessEnv) => Extract<StoreOptions, { backend: B }> };

const TO_OPTIONS: ToOptions = {
  consul: (f, env) => {
    const nodes = nodeList(f.node);
    const scheme = schemeOf(f);
    return {
      backend: 'consul',
      env,
      ...(nodes[0] ? { address: nodes[0] } : {}),
      ...(scheme ? { scheme } : {}),
      ...(f.token ? { token: f.token } : {}),
      ...(f.tokenFile ? { tokenFile: f.tokenFile } : {}),
      ...tlsFiles(f),
    };
  },
  etcd: (f) => {
    if (f.basicAuth && !f.username) throw new UsageError('--basic-auth needs --username and --password');
    if (Boolean(f.username) !== Boolean(f.password)) throw new UsageError('--username and --password go together');
    if (Boolean(f.clientCert) !== Boolean(f.clientKey)) throw new UsageError('--client-cert and --client-key go together');
    if (f.etcdLayout !== undefined && f.etcdLayout !== 'confd' && f.etcdLayout !== 'bare') throw new UsageError(`--etcd-layout: "${f.etcdLayout}" is not confd or bare`);
    const nodes = nodeList(f.node);
    const scheme = schemeOf(f);
    return {
      backend: 'etcd',
      ...(nodes.length ? { nodes } : {}),
      ...(scheme ? { scheme } : {}),
      ...tlsFiles(f),
      ...(f.username ? { username: f.username, password: f.password! } : {}),
      ...(f.etcdLayout ? { layout: f.etcdLayout as 'confd' | 'bare' } : {}),
    };
  },
  file: (f) => {
    const files = Array.isArray(f.file) ? f.file : f.file ? [f.file] : [];
    if (files.length === 0) throw new UsageError('--backend file needs --file <kv.json> (or confd\'s --file x.yaml, repeatable)');
    const yaml = files.filter(isYamlFile);
    if (yaml.length) {
      if (yaml.length !== files.length) throw new UsageError(`--file: ${files.filter((x) => !isYamlFile(x)).join(', ')} is not YAML (.yaml, .yml or a directory) like ${yaml[0]}; the JSON store takes one file`);
      if (f.createFile) throw new UsageError('--create-file: the YAML file store is read-only');
      return { backend: 'file', files: yaml };
    }
    if (files.length > 1) throw new UsageError(`--file: the JSON store takes one file (${files.join(', ')})`);
    checkStoreFile(files[0]!, f.createFile ?? false);
    return { backend: 'file', file: files[0]! };
  },
};

function tlsFiles(f: StoreFlags): { caFile?: string; certFile?: string; keyFile?: string } {
  return {
    ...(f.clientCaKeys ? { caFile: f.clientCaKeys } : {}),
    ...(f.clientCert ? { certFile: f.clientCert } : {}),
    ...(f.clientKey ? { keyFile: f.clientKey } : {}),
  };
}

/** confd's file backend: a .yaml/.yml file or a directory of them. */
function isYamlFile(path: string): boolean {
  try {
    if (statSync(path).isDirectory()) return true;
  } catch {
    // a missing file is told by the store, naming it
  }
  return isYamlPath(path);
}

/** --file must name an existing regular file unless creating one was asked for. */
function checkStoreFile(file: string, create: boolean): void {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new NoInputError(`--file ${file}: ${(err as Error).message}`);
    if (create) return;
    throw new NoInputError(`--file ${file}: no such file (check the path; --create-file starts a new, empty store)`);
  }
  if (!st.isFile()) throw new NoInputError(`--file ${file}: not a regular file`);
}

const backendList = `${STORE_BACKENDS.slice(0, -1).join(', ')} or ${STORE_BACKENDS.at(-1)}`;

/** Store flags → StoreOptions for openStore; the environment is read here, at the edge, never in libraries. */
export function storeOptionsFromFlags(flags: StoreFlags, env: NodeJS.ProcessEnv = process.env): StoreOptions {
  const f = givenStoreFlags(flags);
  const backend = f.backend ?? (f.file ? 'file' : 'consul');
  if (!isStoreBackend(backend)) throw new UsageError(`--backend: "${backend}" is not ${backendList}`);
  refuseUnhonoured(backend, f);
  return TO_OPTIONS[backend](f, env);
}
