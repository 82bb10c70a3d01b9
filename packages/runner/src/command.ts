// Commands for check_cmd and reload_cmd, through /bin/sh or as argv words without a shell: own
// process group, a timeout that kills the whole group (grandchildren included), a bounded tail of
// the output, and the outcome returned as data.
import { DEFAULT_COMMAND_TIMEOUT_MS, withFields, type Logger } from '@confd-haproxy/base';

/**
 * The part of a pino logger the runner uses. It is only ever called with one string, so pino,
 * console and string-collecting test loggers all fit.
 */
export type RunnerLogger = Logger;

export interface RunCommandOptions {
  /** Default 30 000 ms. */
  timeoutMs?: number;
  cwd?: string;
  /** The exact environment of the command (the caller decides what it holds, see commandEnv); default: inherited. */
  env?: Record<string, string | undefined>;
  /** Run these words as the program and its arguments, without a shell; `command` is then only the text for logs and results. */
  argv?: readonly string[];
  signal?: AbortSignal;
  logger?: RunnerLogger;
  /** After SIGTERM to the group, SIGKILL this much later (ms). Default 1000. */
  killGraceMs?: number;
}

export interface CommandResult {
  command: string;
  ok: boolean;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  aborted: boolean;
  /** The last 64 KiB of output. */
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Why the program could not be started at all (argv: not found, not executable). */
  notStarted?: string;
}

export const MAX_OUTPUT_BYTES = 64 * 1024;

/** Keeps only the last MAX_OUTPUT_BYTES of a stream, so a chatty command cannot grow memory. */
class Tail {
  #chunks: Buffer[] = [];
  #size = 0;
  push(chunk: Buffer | string): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#chunks.push(b);
    this.#size += b.length;
    while (this.#chunks.length > 1 && this.#size - this.#chunks[0]!.length >= MAX_OUTPUT_BYTES) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - MAX_OUTPUT_BYTES)).toString('utf8');
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Process groups of the commands running now, for a hard exit (a second SIGTERM). */
const runningGroups = new Set<number>();

/** SIGKILL every running command's process group: the process is about to exit at once. */
export function killRunningCommands(): void {
  for (const pid of runningGroups) killGroup(pid, 'SIGKILL');
}

export async function runCommand(command: string, opts: RunCommandOptions = {}): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const grace = opts.killGraceMs ?? 1000;
  const started = Date.now();
  const log = opts.logger;
  log?.debug(`running "${command}"${opts.argv ? ' without a shell' : ''} (timeout ${timeoutMs} ms)`);
  const [file, ...args] = opts.argv ?? [command];
  // Loaded on the first command: a render without check_cmd or reload_cmd (a quick start, plan) never pays for execa.
  const { execa } = await import('execa');
  // detached: the command leads its own process group, so the whole tree can be signalled at once.
  const child = execa(file!, args, {
    shell: opts.argv ? false : '/bin/sh',
    detached: true,
    reject: false,
    buffer: false,
    stdin: 'ignore',
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.env ? { env: opts.env, extendEnv: false } : {}),
  });
  if (child.pid) runningGroups.add(child.pid);
  const stdout = new Tail();
  const stderr = new Tail();
  child.stdout?.on('data', (c: Buffer | string) => stdout.push(c));
  child.stderr?.on('data', (c: Buffer | string) => stderr.push(c));
  let timedOut = false;
  let aborted = false;
  let hardKill: NodeJS.Timeout | undefined;
  const stop = (why: 'timeout' | 'abort') => {
    if (timedOut || aborted) return;
    if (why === 'timeout') timedOut = true;
    else aborted = true;
    killGroup(child.pid, 'SIGTERM');
    hardKill = setTimeout(() => killGroup(child.pid, 'SIGKILL'), grace);
  };
  const timer = setTimeout(() => stop('timeout'), timeoutMs);
  const onAbort = () => stop('abort');
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const r = await child;
  if (child.pid) runningGroups.delete(child.pid);
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);
  // The shell may be gone while children that ignored SIGTERM live on: make sure the group is.
  if (timedOut || aborted) killGroup(child.pid, 'SIGKILL');
  if (hardKill) clearTimeout(hardKill);
  const unstarted = notStarted(r);
  const result: CommandResult = {
    command,
    ok: !timedOut && !aborted && r.exitCode === 0,
    exitCode: r.exitCode,
    signal: r.signal ?? undefined,
    timedOut,
    aborted,
    stdout: stdout.toString(),
    stderr: stderr.toString(),
    durationMs: Date.now() - started,
    ...(unstarted ? { notStarted: unstarted } : {}),
  };
  if (log) {
    const out = [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join('\n');
    const told = `"${command}" ${result.ok ? `ok in ${result.durationMs} ms` : describeFailure(result)}${out ? `: ${out}` : ''}`;
    if (result.ok) log.debug(told);
    else withFields(log, { code: result.timedOut ? 'COMMAND_TIMEOUT' : 'COMMAND_FAILED', command, exitCode: result.exitCode, durationMs: result.durationMs })[result.timedOut ? 'error' : 'warn'](told);
  }
  return result;
}

/** A spawn error (ENOENT, EACCES): the program never ran. */
function notStarted(r: { exitCode?: number; signal?: string; code?: string; originalMessage?: string }): string | undefined {
  return r.exitCode === undefined && !r.signal && r.code ? (r.originalMessage ?? r.code) : undefined;
}

/** "exited with 3", "timed out after 30001 ms (process group killed)", ... for messages. */
export function describeFailure(r: CommandResult): string {
  if (r.notStarted) return `could not be started (${r.notStarted})`;
  if (r.timedOut) return `timed out after ${r.durationMs} ms (process group killed)`;
  if (r.aborted) return 'was aborted (process group killed)';
  if (r.signal) return `was killed by ${r.signal}`;
  return `exited with ${r.exitCode}`;
}

/** Identical commands of several resources in one pass run once; order kept, blanks dropped. */
export function dedupeCommands(commands: readonly (string | undefined)[]): string[] {
  return [...new Set(commands.filter((c): c is string => Boolean(c && c.trim())))];
}
