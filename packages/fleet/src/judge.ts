// The canary's judgement: HAProxy's numbers after a change against the same numbers before it,
// under the rules the pusher signed. A pure function: samples and rules in, a verdict out.
import type { StatRow, StatSample } from './haproxy-stats.js';
import type { JudgeNumbers, JudgeRules } from './rollout.js';

export interface Verdict {
  ok: boolean;
  /** Why it failed (empty when ok). */
  reasons: string[];
  numbers: JudgeNumbers;
}

const key = (r: StatRow) => `${r.proxy}/${r.name}`;
const byKey = (rows: readonly StatRow[]) => new Map(rows.map((r) => [key(r), r]));
const isDown = (r: StatRow | undefined) => r !== undefined && /^DOWN/.test(r.status);
const sum = (rows: readonly StatRow[], f: (r: StatRow) => number) => rows.reduce((n, r) => n + f(r), 0);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Counters since the change: the same worker counts on from `before`; a new worker (a reload) started from zero. */
function windowCounters(before: StatSample, after: StatSample): { errors: number; sessions: number; checkFailures: number; errorsBefore: number; sessionsBefore: number } {
  const backends = (s: StatSample) => s.rows.filter((r) => r.type === 'backend');
  const servers = (s: StatSample) => s.rows.filter((r) => r.type === 'server');
  const errs = (s: StatSample) => sum(backends(s), (r) => r.connectionErrors + r.responseErrors);
  const sess = (s: StatSample) => sum(backends(s), (r) => r.sessions);
  const chk = (s: StatSample) => sum(servers(s), (r) => r.checkFailures);
  const same = before.pid !== 0 && before.pid === after.pid;
  const since = (f: (s: StatSample) => number) => Math.max(0, f(after) - (same ? f(before) : 0));
  return { errors: since(errs), sessions: since(sess), checkFailures: since(chk), errorsBefore: errs(before), sessionsBefore: sess(before) };
}

/** Read the numbers that the rules judge. */
export function judgeNumbers(before: StatSample, after: StatSample): JudgeNumbers {
  const prev = byKey(before.rows);
  const next = byKey(after.rows);
  const emptiedBackends = before.rows.filter((r) => r.type === 'backend' && /^UP/.test(r.status) && isDown(next.get(key(r)))).map((r) => r.proxy);
  const goneListens = before.rows.filter((r) => r.type === 'frontend' && !next.has(key(r))).map((r) => r.proxy);
  const downServers = after.rows.filter((r) => r.type === 'server' && isDown(r) && !isDown(prev.get(key(r)))).map(key);
  const c = windowCounters(before, after);
  return {
    emptiedBackends,
    goneListens,
    downServers,
    checkFailures: c.checkFailures,
    errors: c.errors,
    sessions: c.sessions,
    errorRateBefore: c.sessionsBefore ? c.errorsBefore / c.sessionsBefore : 0,
    errorRateAfter: c.sessions ? c.errors / c.sessions : 0,
  };
}

/** The verdict on a change: every rule that failed, with the numbers it read. */
export function judge(before: StatSample, after: StatSample, rules: JudgeRules): Verdict {
  const n = judgeNumbers(before, after);
  const reasons: string[] = [];
  if (n.emptiedBackends.length) reasons.push(`backend ${n.emptiedBackends.join(', ')} was UP and has no healthy server now`);
  if (n.goneListens.length > rules.allowGone) reasons.push(`listen ${n.goneListens.join(', ')} gone (${rules.allowGone} allowed)`);
  if (rules.maxDown !== undefined && n.downServers.length > rules.maxDown) reasons.push(`${n.downServers.length} server(s) went DOWN (${n.downServers.slice(0, 5).join(', ')}; ${rules.maxDown} allowed)`);
  if (n.errors >= rules.minErrors && n.errorRateAfter > n.errorRateBefore + rules.errorMargin) {
    reasons.push(`errors per session rose from ${pct(n.errorRateBefore)} to ${pct(n.errorRateAfter)} (${n.errors} in ${n.sessions} sessions; margin ${pct(rules.errorMargin)})`);
  }
  return { ok: reasons.length === 0, reasons, numbers: n };
}
