// Processes started by test support: recorded, stopped by PID, never left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LauncherError, logTail } from './errors.js';
import { sleep } from './sleep.js';
import { requireTier } from './tier.js';

export interface ServiceHandle {
  readonly name: string;
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** The temp dir holding the service's config, data and logs; removed by stop(). */
  readonly dir: string;
  /** Send a signal by PID (SIGKILL, SIGSTOP, SIGCONT scenarios); SIGSTOP returns once it took effect. */
  kill(signal: NodeJS.Signals): void;
  /** SIGCONT, SIGTERM, SIGKILL after a grace period; wait for the exit; remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartProcessOptions {
  /** The Debian package that provides the binary, named in the error when it is missing. */
  pkg: string;
  /** Where the process's stdout and stderr go (appended); without it they are discarded. */
  output?: string;
  /** The log whose tail explains a failed start (defaults to output). */
  log?: string;
  cwd?: string;
  /** The child's environment; inherited when absent. */
  env?: NodeJS.ProcessEnv;
  /** A temp dir removed with the process if the test process exits without stopping it. */
  dir?: string;
}

interface Entry {
  child: ChildProcess;
  dir?: string;
}

const running = new Map<number, Entry>();
// Process groups of short-lived helpers (mariadb-install-db and the children it forks).
const groups = new Set<number>();
const exitedPids = new Set<number>();
const SETPRIV = '/usr/bin/setpriv';

process.on('exit', () => {
  // Last resort for a test that forgot stop(): synchronous, so SIGKILL and rm only.
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const [pid, entry] of running) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (entry.dir) {
      try {
        rmSync(entry.dir, { recursive: true, force: true });
      } catch {
        // best effort at exit
      }
    }
  }
});

/** A temp dir whose name says who made it (leftovers are easy to find). */
export function tempDir(what: string): string {
  return mkdtempSync(join(tmpdir(), `confd-haproxy-test-${what}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** True while the PID exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const st = statLine(pid);
    return st !== '' && !/^\d+ \(.*\) [ZX]/.test(st);
  } catch {
    return false;
  }
}

function statLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

/** PIDs of processes started here that have not exited yet. */
export function runningPids(): number[] {
  return [...running.keys()];
}

/**
 * Start a long-running binary in the foreground as our child; a missing binary names the Debian
 * package to install. Under setpriv (util-linux) the kernel SIGKILLs it if this process dies.
 */
export function startProcess(bin: string, args: readonly string[], opts: StartProcessOptions): ChildProcess {
  requireTier(opts.pkg === 'haproxy' ? 'e2e' : 'integration', bin);
  if (!existsSync(bin)) throw new LauncherError('MISSING_BINARY', `${bin} is missing: install the Debian package ${opts.pkg} (npm test does this as root)`);
  const out = opts.output ? openSync(opts.output, 'a') : 'ignore';
  // setpriv execs the binary, so the child's PID is the service's PID.
  const [file, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, [...args]];
  let child: ChildProcess;
  try {
    child = spawn(file, argv, { stdio: ['ignore', out, out], cwd: opts.cwd, env: opts.env });
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) throw new LauncherError('EXITED', `could not start ${bin}${logTail(opts.log ?? opts.output)}`);
  running.set(pid, { child, dir: opts.dir });
  child.once('exit', () => {
    running.delete(pid);
    exitedPids.add(pid);
  });
  child.once('error', () => undefined); // reported through exit and alive()
  return child;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Run a short-lived command in its own process group, bounded by timeoutMs: on timeout the whole
 * group is SIGKILLed (a shell script's children too). Rejects with SETUP on failure. `input`, when
 * given, is written to its stdin.
 */
export function runBounded(bin: string, args: readonly string[], opts: { pkg: string; timeoutMs: number; env?: NodeJS.ProcessEnv; input?: string }): Promise<RunResult> {
  try {
    // openssl is a tool, not a service: unit tests may make certificates.
    if (opts.pkg !== 'openssl') requireTier('integration', bin);
  } catch (err) {
    return Promise.reject(err);
  }
  if (!existsSync(bin)) return Promise.reject(new LauncherError('MISSING_BINARY', `${bin} is missing: install the Debian package ${opts.pkg} (npm test does this as root)`));
  return new Promise((done, fail) => {
    const child = spawn(bin, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true, env: opts.env });
    // What the command reads on stdin (saslpasswd2 -p: a password kept out of argv).
    if (opts.input !== undefined) child.stdin!.on('error', () => undefined).end(opts.input); // a command that exits unread: told by its exit
    const pgid = child.pid;
    if (pgid !== undefined) groups.add(pgid);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d.toString()));
    child.stderr!.on('data', (d) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pgid !== undefined) {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }, opts.timeoutMs);
    const cmd = [bin, ...args].join(' ');
    child.once('error', (err) => {
      clearTimeout(timer);
      if (pgid !== undefined) groups.delete(pgid);
      fail(new LauncherError('SETUP', `${cmd}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (pgid !== undefined) groups.delete(pgid);
      if (code === 0) return done({ stdout, stderr });
      const why = timedOut ? `timed out after ${opts.timeoutMs} ms` : signal ? `killed by ${signal}` : `exit code ${code}`;
      const err = new LauncherError('SETUP', `${cmd}: ${why}\n${stderr.slice(-2000)}${stdout.slice(-1000)}`.trimEnd());
      fail(Object.assign(err, { stdout, stderr }));
    });
  });
}

/** Attach a temp dir to a running process so the exit hook removes it too. */
export function attachDir(pid: number, dir: string): void {
  const e = running.get(pid);
  if (e) e.dir = dir;
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const entry = running.get(pid);
  const deadline = Date.now() + ms;
  if (entry) {
    const exited = new Promise<boolean>((r) => entry.child.once('exit', () => r(true)));
    return Promise.race([exited, sleep(ms).then(() => !running.has(pid))]);
  }
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(20);
  }
  return !alive(pid);
}

/**
 * SIGCONT (in case a test stopped it), SIGTERM, then SIGKILL after graceMs; wait for the exit.
 * A PID we started that already exited is never signalled again (it may have been reused).
 */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  if (exitedPids.has(pid) || !alive(pid)) return;
  try {
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitGone(pid, graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitGone(pid, 5000))) throw new LauncherError('TIMEOUT', `pid ${pid} survived SIGKILL for 5 s`);
}

/**
 * SIGKILL a child this test spawned and wait until it is gone, so a teardown never removes a
 * directory the child still writes into (tap then fails with ENOTEMPTY).
 */
export async function killAndWait(child: ChildProcess, waitMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGKILL');
  await Promise.race([gone, new Promise<void>((done) => setTimeout(done, waitMs).unref())]);
}

const stoppers = new Set<() => Promise<void>>();

/** Stop every service whose handle has not been stopped yet, and every recorded process. */
export async function stopAll(): Promise<void> {
  await Promise.allSettled([...stoppers].map((s) => s()));
  const left = [...running];
  await Promise.allSettled(left.map(([pid]) => stopProcess(pid, 2000)));
  for (const [, e] of left) if (e.dir) removeDir(e.dir);
}

/** Bounded wait for probe() to return a value, failing fast (with the log's tail) if pid died. */
export async function waitWhileAlive<T>(
  pid: number,
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; log?: string; lastState?: () => string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (!alive(pid)) throw new LauncherError('EXITED', `${what} (pid ${pid}) exited during start${logTail(opts.log)}`);
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() >= deadline) {
      const state = opts.lastState?.();
      throw new LauncherError('TIMEOUT', `${what} was not ready within ${opts.timeoutMs} ms${state ? `: ${state}` : ''}${logTail(opts.log)}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

export interface HandleExtras {
  /** Runs before the process is signalled (e.g. to collect HAProxy worker PIDs). */
  onStop?: () => Promise<void>;
  /** Runs after the process exited, before the dir is removed. */
  afterStop?: () => Promise<void>;
  graceMs?: number;
}

export function handle(name: string, child: ChildProcess, host: string, port: number, dir: string, extra: HandleExtras = {}): ServiceHandle {
  const pid = child.pid!;
  attachDir(pid, dir);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stoppers.delete(stop);
      try {
        await extra.onStop?.();
      } finally {
        await stopProcess(pid, extra.graceMs);
        await extra.afterStop?.();
        removeDir(dir);
      }
    })();
    return stopping;
  };
  stoppers.add(stop);
  return {
    name,
    pid,
    host,
    port,
    dir,
    kill: (signal) => {
      if (exitedPids.has(pid)) return;
      try {
        process.kill(pid, signal);
      } catch {
        return;
      }
      // Signals are delivered asynchronously: SIGSTOP returns before every thread has stopped.
      if (signal === 'SIGSTOP') {
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline && /^\d+ \(.*\) [^TtZX]/.test(statLine(pid))) {
          // bounded busy wait: a few ms at most
        }
      }
    },
    stop,
  };
}
