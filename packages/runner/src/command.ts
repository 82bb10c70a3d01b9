// Shell commands for check_cmd and reload_cmd: own process group, a timeout that kills the whole
// group (grandchildren included), output captured, and the outcome returned as data.
import { execa } from 'execa';

export interface RunnerLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface RunCommandOptions {
  /** Default 30 000 ms. */
  timeoutMs?: number;
  cwd?: string;
  /** The exact environment of the command (the caller decides what it holds). */
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  logger?: RunnerLogger;
  /** After SIGTERM to the group, SIGKILL this much later (ms). Default 2000. */
  killGraceMs?: number;
}

export interface CommandResult {
  command: string;
  ok: boolean;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  aborted: boolean;
  /** Last 64 KiB of output. */
  stdout: string;
  stderr: string;
  durationMs: number;
}

const MAX_OUTPUT = 64 * 1024;
const tail = (s: string) => (s.length > MAX_OUTPUT ? s.slice(-MAX_OUTPUT) : s);

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

export async function runCommand(command: string, opts: RunCommandOptions = {}): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const grace = opts.killGraceMs ?? 2000;
  const started = Date.now();
  const child = execa(command, {
    shell: '/bin/sh',
    detached: true,
    cleanup: true,
    reject: false,
    all: false,
    stdin: 'ignore',
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.env ? { env: opts.env, extendEnv: false } : {}),
    maxBuffer: 16 * 1024 * 1024,
    stripFinalNewline: false,
  });
  let timedOut = false;
  let aborted = false;
  let hardKill: NodeJS.Timeout | undefined;
  const stop = (why: 'timeout' | 'abort') => {
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
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);
  // The shell may be gone while its children live on: make sure the whole group is.
  if (timedOut || aborted) {
    killGroup(child.pid, 'SIGKILL');
  }
  if (hardKill) clearTimeout(hardKill);
  const result: CommandResult = {
    command,
    ok: !timedOut && !aborted && r.exitCode === 0,
    exitCode: r.exitCode,
    signal: r.signal ?? undefined,
    timedOut,
    aborted,
    stdout: tail(String(r.stdout ?? '')),
    stderr: tail(String(r.stderr ?? '')),
    durationMs: Date.now() - started,
  };
  const log = opts.logger;
  if (log) {
    const out = [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join('\n');
    if (result.ok) log.debug(`"${command}" ok in ${result.durationMs} ms${out ? `: ${out}` : ''}`);
    else log.warn(`"${command}" ${describeFailure(result)}${out ? `: ${out}` : ''}`);
  }
  return result;
}

export function describeFailure(r: CommandResult): string {
  if (r.timedOut) return `timed out after ${r.durationMs} ms (process group killed)`;
  if (r.aborted) return 'was aborted (process group killed)';
  if (r.signal) return `was killed by ${r.signal}`;
  return `exited with ${r.exitCode}`;
}

/** Identical commands of several resources in one pass run once; order kept. */
export function dedupeCommands(commands: readonly (string | undefined)[]): string[] {
  return [...new Set(commands.filter((c): c is string => Boolean(c && c.trim())))];
}
