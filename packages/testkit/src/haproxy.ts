// HAProxy in master-worker mode for tests: a master CLI socket, our child, stopped by PID with
// its workers.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { masterCommand, parseShowProc, reloadHaproxy, runtimeCommand, type HaproxyReloadResult } from '@confd-haproxy/runner';
import { LauncherError, logTail } from './errors.js';
import { alive, handle, removeDir, startProcess, tempDir, waitWhileAlive, type ServiceHandle } from './proc.js';
import type { Requirement } from './requirement.js';
import { sleep } from './sleep.js';

const HAPROXY = '/usr/sbin/haproxy';

export const HAPROXY_REQUIRES: readonly Requirement[] = [{ name: 'haproxy', path: HAPROXY, pkg: 'haproxy' }];

export interface HAProxyOptions {
  /** A path to a config file (e.g. the renderer's dest), or the config text itself (has a newline). */
  config: string;
  /** The config text, written to <dir>/haproxy.cfg (wins over config). */
  configText?: string;
  /** For a config given as text: add `stats socket <dir>/stats.sock level admin` unless it declares one. Default true. */
  statsSocket?: boolean;
  timeoutMs?: number;
  /** HAProxy's working directory (where a relative `unix@name` in the config lands); default the test's. */
  cwd?: string;
}

export interface HAProxyHandle extends ServiceHandle {
  /** The config file HAProxy was started with (and re-reads on reload). */
  readonly config: string;
  readonly masterSocket: string;
  /** The admin stats socket the config declares (unix path), if any. */
  readonly statsSocket: string | undefined;
  readonly pidFile: string;
  readonly log: string;
  /** One command on the master CLI; returns the reply. */
  masterCommand(cmd: string): Promise<string>;
  /** One command on the stats socket (runtime API); throws NO_STATS_SOCKET without one. */
  runtimeCommand(cmd: string): Promise<string>;
  /** Reload through the master CLI, wait (bounded) and report from `show proc`: new workers or a grown failed count. */
  reload(opts?: { timeoutMs?: number }): Promise<HaproxyReloadResult>;
  /** Current worker PIDs (not old workers still finishing). */
  workerPids(): Promise<number[]>;
}

export interface HAProxyTestConfigOptions {
  /** `listen <name>` sections in TCP mode: a bind port on 127.0.0.1 and its servers. */
  listens: { name: string; port: number; servers: { host?: string; port: number; options?: string }[]; lines?: string[] }[];
  /** Global maxconn; kept low because a maxconn above `ulimit -n` makes the master exit. */
  maxconn?: number;
  statsSocket?: string;
}

/** A minimal TCP config for tests; startHAProxy adds a stats socket in its temp dir. */
export function haproxyTestConfig(opts: HAProxyTestConfigOptions): string {
  const lines = ['global', `    maxconn ${opts.maxconn ?? 256}`];
  if (opts.statsSocket) lines.push(`    stats socket ${opts.statsSocket} mode 600 level admin`);
  lines.push('defaults', '    mode tcp', '    timeout connect 2s', '    timeout client 10s', '    timeout server 10s');
  for (const l of opts.listens) {
    lines.push(`listen ${l.name}`, `    bind 127.0.0.1:${l.port}`, ...(l.lines ?? []).map((x) => `    ${x}`));
    l.servers.forEach((s, i) => lines.push(`    server s${i + 1} ${s.host ?? '127.0.0.1'}:${s.port}${s.options ? ` ${s.options}` : ''}`));
  }
  return `${lines.join('\n')}\n`;
}

/** The first unix `stats socket` path a config declares. */
export function statsSocketOf(configText: string): string | undefined {
  const m = /^\s*stats\s+socket\s+(?:unix@)?(\/\S+)/m.exec(configText);
  return m?.[1];
}

function withStatsSocket(text: string, socket: string): string {
  const line = `    stats socket ${socket} mode 600 level admin`;
  if (/^global\s*$/m.test(text)) return text.replace(/^global\s*$/m, (g) => `${g}\n${line}`);
  return `global\n${line}\n${text}`;
}

// sun_path holds 108 bytes including the NUL.
function checkSocketPath(path: string): void {
  if (Buffer.byteLength(path) > 107) throw new LauncherError('SETUP', `unix socket path too long (${Buffer.byteLength(path)} > 107 bytes): ${path}; use a shorter TMPDIR`);
}

/** Every PID `show proc` lists as a worker, current or old. */
function allWorkers(showProc: string): number[] {
  return [...showProc.matchAll(/^(\d+)\s+worker\b/gm)].map((m) => Number(m[1]));
}

/**
 * Start `haproxy -W -db -S <dir>/master.sock -f <config> -p <dir>/haproxy.pid`: master-worker,
 * in the foreground (-db), so the master is our child. Resolves once a worker runs.
 */
export async function startHAProxy(opts: HAProxyOptions): Promise<HAProxyHandle> {
  const dir = tempDir('haproxy');
  const masterSocket = join(dir, 'master.sock');
  const pidFile = join(dir, 'haproxy.pid');
  const log = join(dir, 'haproxy.log');
  let config: string;
  let statsSocket: string | undefined;
  let child;
  try {
    checkSocketPath(masterSocket);
    const text = opts.configText ?? (opts.config.includes('\n') ? opts.config : undefined);
    if (text !== undefined) {
      config = join(dir, 'haproxy.cfg');
      statsSocket = statsSocketOf(text);
      let body = text;
      if (statsSocket === undefined && opts.statsSocket !== false) {
        statsSocket = join(dir, 'stats.sock');
        body = withStatsSocket(text, statsSocket);
      }
      writeFileSync(config, body);
    } else {
      config = opts.config;
      statsSocket = statsSocketOf(readFileSync(config, 'utf8'));
    }
    if (statsSocket) checkSocketPath(statsSocket);
    child = startProcess(HAPROXY, ['-W', '-db', '-S', masterSocket, '-f', config, '-p', pidFile], { pkg: 'haproxy', output: log, dir, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  } catch (err) {
    removeDir(dir);
    if (err instanceof LauncherError) throw err;
    throw new LauncherError('SETUP', `haproxy: cannot prepare ${opts.configText === undefined ? opts.config : 'the config text'}: ${(err as Error).message}`, { cause: err });
  }
  const pid = child.pid!;
  const cli = (cmd: string, timeoutMs?: number) => masterCommand(masterSocket, cmd, timeoutMs);
  // Workers seen so far: the master SIGTERMs them on exit, any that linger are SIGKILLed.
  const seen = new Set<number>();
  const remember = (text: string) => {
    for (const w of allWorkers(text)) seen.add(w);
    return text;
  };
  const base = handle('haproxy', child, '127.0.0.1', 0, dir, {
    graceMs: 3000,
    onStop: async () => {
      if (alive(pid)) await cli('show proc', 1000).then(remember, () => '');
    },
    afterStop: async () => {
      for (const w of seen) {
        if (!alive(w) || !readComm(w).startsWith('haproxy')) continue;
        try {
          process.kill(w, 'SIGKILL');
        } catch {
          // gone
        }
      }
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && [...seen].some(alive)) await sleep(20);
    },
  });
  try {
    await waitWhileAlive(
      pid,
      'haproxy master',
      async () => {
        const out = remember(await cli('show proc', 1000));
        return parseShowProc(out).workers.length > 0 ? true : undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 10_000, log },
    );
  } catch (err) {
    await base.stop();
    throw err;
  }
  return {
    ...base,
    config,
    masterSocket,
    statsSocket,
    pidFile,
    log,
    masterCommand: async (cmd) => remember(await cli(cmd)),
    runtimeCommand: (cmd) => {
      if (!statsSocket) return Promise.reject(new LauncherError('NO_STATS_SOCKET', `${config} declares no unix stats socket: cannot run "${cmd}"`));
      return runtimeCommand(statsSocket, cmd);
    },
    reload: async (o = {}) => {
      const r = await reloadHaproxy({ masterSocket, timeoutMs: o.timeoutMs ?? 10_000 });
      for (const w of [...r.before.workers, ...r.after.workers]) seen.add(w);
      if (!r.ok) r.message += logTail(log, 8);
      return r;
    },
    workerPids: async () => parseShowProc(remember(await cli('show proc'))).workers,
  };
}

function readComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
