// What HAProxy says about itself, read from its runtime API (the stats socket): `show info` for
// the worker's pid, `show stat` for each listen, backend and server: its status, sessions, errors
// and failed checks. A canary compares these numbers before and after a change.
import { masterCommand } from '@confd-haproxy/runner';

/** One row of `show stat`: a frontend, a backend or a server. */
export interface StatRow {
  proxy: string;
  /** FRONTEND, BACKEND or the server's name. */
  name: string;
  type: 'frontend' | 'backend' | 'server' | 'listener';
  /** UP, DOWN, OPEN, MAINT, no check, UP 1/3 (going down), … */
  status: string;
  sessions: number;
  connectionErrors: number;
  responseErrors: number;
  checkFailures: number;
}

/** One reading of HAProxy: the worker that answered and every row. */
export interface StatSample {
  pid: number;
  at: number;
  rows: StatRow[];
}

const TYPES = ['frontend', 'backend', 'server', 'listener'] as const;

/**
 * `show stat`'s CSV, by the header's column names. Proxy and server names hold no comma and the
 * columns read come before any free text, so a split per line is enough (no CSV library needed).
 */
export function parseShowStat(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const header = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const at = { px: col('pxname'), sv: col('svname'), stot: col('stot'), econ: col('econ'), eresp: col('eresp'), status: col('status'), chkfail: col('chkfail'), type: col('type') };
  if (Object.values(at).some((i) => i < 0)) throw new Error(`show stat: unexpected header (${lines[0]?.slice(0, 80) ?? 'no answer'})`);
  const num = (v: string | undefined) => Number(v) || 0;
  return lines.slice(1).map((line) => {
    const f = line.split(',');
    return {
      proxy: f[at.px] ?? '',
      name: f[at.sv] ?? '',
      type: TYPES[num(f[at.type])] ?? 'server',
      status: f[at.status] ?? '',
      sessions: num(f[at.stot]),
      connectionErrors: num(f[at.econ]),
      responseErrors: num(f[at.eresp]),
      checkFailures: num(f[at.chkfail]),
    };
  });
}

/** The worker's pid from `show info`. */
export function parseShowInfoPid(text: string): number {
  return Number(/^Pid:\s*(\d+)/m.exec(text)?.[1] ?? 0);
}

/** Read HAProxy now through its stats socket. */
export async function sampleHaproxy(socket: string, timeoutMs = 3000): Promise<StatSample> {
  const info = await masterCommand(socket, 'show info', timeoutMs);
  const stat = await masterCommand(socket, 'show stat', timeoutMs);
  return { pid: parseShowInfoPid(info), at: Date.now(), rows: parseShowStat(stat) };
}
