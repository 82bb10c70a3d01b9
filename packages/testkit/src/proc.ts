// Processes started by test support: recorded, stopped by PID, never left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServiceHandle {
  readonly name: string;
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  kill(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

const running = new Map<number, ChildProcess>();
process.on('exit', () => {
  for (const pid of running.keys()) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** A temp dir whose name says who made it (leftovers are easy to find). */
export function tempDir(what: string): string {
  return mkdtempSync(join(tmpdir(), `confd-haproxy-test-${what}-`));
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host, port });
    const finish = (ok: boolean) => {
      s.destroy();
      done(ok);
    };
    s.setTimeout(500, () => finish(false));
    s.once('connect', () => finish(true));
    s.once('error', () => finish(false));
  });
}

/** Wait until host:port accepts, failing fast (with the log's tail) if the process died. */
export async function waitForPort(pid: number, host: string, port: number, opts: { timeoutMs?: number; log?: string; what: string }): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (!alive(pid)) throw new Error(`${opts.what} (pid ${pid}) exited during start${logTail(opts.log)}`);
    if (await canConnect(host, port)) return;
    await sleep(50);
  }
  throw new Error(`${opts.what} did not accept on ${host}:${port} within ${opts.timeoutMs ?? 30_000} ms${logTail(opts.log)}`);
}

function logTail(log?: string): string {
  if (!log || !existsSync(log)) return '';
  return `:\n${readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')}`;
}

/** Start a long-running binary; a missing binary names the Debian package to install. */
export function startProcess(bin: string, args: string[], opts: { pkg: string; log?: string; cwd?: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: install the Debian package ${opts.pkg} (npm test does this as root)`);
  const child = spawn(bin, args, { stdio: 'ignore', cwd: opts.cwd, env: opts.env ?? process.env, detached: false });
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  running.set(child.pid, child);
  child.once('exit', () => running.delete(child.pid!));
  return child;
}

/** SIGCONT (in case a test stopped it), SIGTERM, then SIGKILL after graceMs; wait for exit. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  const child = running.get(pid);
  const exited = child && child.exitCode === null && child.signalCode === null ? new Promise<void>((r) => child.once('exit', () => r())) : Promise.resolve();
  try {
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs));
  if ((await Promise.race([exited, timer])) === 'timeout') {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    await Promise.race([exited, sleep(2000)]);
  }
  running.delete(pid);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function handle(name: string, child: ChildProcess, host: string, port: number, dir: string, extra: { onStop?: () => Promise<void> } = {}): ServiceHandle {
  const pid = child.pid!;
  return {
    name,
    pid,
    host,
    port,
    dir,
    kill: (signal) => {
      try {
        process.kill(pid, signal);
      } catch {
        return;
      }
      // Signals are delivered asynchronously: SIGSTOP returns before every thread has stopped.
      if (signal === 'SIGSTOP') {
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline && !/^\d+ \(.*\) T/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) {
          // bounded busy wait: a few ms at most
        }
      }
    },
    stop: async () => {
      await extra.onStop?.();
      await stopProcess(pid);
      removeDir(dir);
    },
  };
}
