// HAProxy's master CLI (master-worker mode, `-S <socket>`): a seamless reload that waits for its
// result. In 2.6 `reload` answers nothing, even for a broken config, so the result is read from
// `show proc` afterwards: new worker PIDs mean success; a grown `failed` count means failure.
import { connect } from 'node:net';

/** One command over an HAProxy CLI socket (master CLI or admin stats socket); the whole answer. */
export async function masterCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((done, fail) => {
    const s = connect({ path: socket });
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      fail(new Error(`${socket}: no answer to "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => s.end(`${command}\n`));
    s.on('data', (d) => (out += d.toString()));
    s.once('error', (err) => {
      clearTimeout(timer);
      fail(new Error(`${socket}: ${err.message}`));
    });
    s.once('close', () => {
      clearTimeout(timer);
      done(out);
    });
  });
}

export interface ProcState {
  masterPid: number | undefined;
  /** Failed reloads since the last good one (`master N [failed: M]`). */
  failed: number;
  /** Current workers (not the ones left from earlier reloads). */
  workers: number[];
}

export function parseShowProc(text: string): ProcState {
  let masterPid: number | undefined;
  let failed = 0;
  const workers: number[] = [];
  let section = 'current';
  for (const line of text.split('\n')) {
    if (/^# old workers/.test(line)) section = 'old';
    else if (/^# programs/.test(line)) section = 'programs';
    const m = /^(\d+)\s+(master|worker)\s+(?:\[failed: (\d+)\]\s+)?(\d+)/.exec(line.trim());
    if (!m) continue;
    if (m[2] === 'master') {
      masterPid = Number(m[1]);
      failed = Number(m[3] ?? 0);
      const f = /failed: (\d+)/.exec(line);
      if (f) failed = Number(f[1]);
    } else if (section === 'current') workers.push(Number(m[1]));
  }
  return { masterPid, failed, workers };
}

export interface HaproxyReloadResult {
  ok: boolean;
  message: string;
  before: ProcState;
  after: ProcState;
  durationMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reload through the master CLI and wait (bounded) until the new workers run or the reload failed. */
export async function reloadHaproxy(opts: { masterSocket: string; timeoutMs?: number }): Promise<HaproxyReloadResult> {
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 10_000);
  const before = parseShowProc(await masterCommand(opts.masterSocket, 'show proc'));
  await masterCommand(opts.masterSocket, 'reload').catch(() => '');
  let after = before;
  while (Date.now() < deadline) {
    await sleep(50);
    try {
      after = parseShowProc(await masterCommand(opts.masterSocket, 'show proc'));
    } catch {
      continue; // the master re-executes itself during a reload: its socket may be briefly gone
    }
    if (after.failed > before.failed) {
      return { ok: false, message: `HAProxy refused the new configuration (failed reloads: ${after.failed}); the old workers keep serving`, before, after, durationMs: Date.now() - started };
    }
    const fresh = after.workers.filter((w) => !before.workers.includes(w));
    if (fresh.length > 0 && after.failed === 0) {
      return { ok: true, message: `reloaded: workers ${before.workers.join(',')} → ${after.workers.join(',')}`, before, after, durationMs: Date.now() - started };
    }
  }
  return { ok: false, message: `no new worker within ${opts.timeoutMs ?? 10_000} ms`, before, after, durationMs: Date.now() - started };
}
