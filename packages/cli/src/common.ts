// What every bin shares: exit codes, durations, sizes, the logger, the state dir. The store flags are store-flags.ts.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { Writable } from 'node:stream';
import bytes from 'bytes';
import { pino, destination, type Logger } from 'pino';
import { durationMs, EXIT, exitCodeOf, UsageError } from '@confd-haproxy/base';

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
