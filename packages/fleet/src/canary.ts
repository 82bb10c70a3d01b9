// The instance's side of a canary rollout: read HAProxy before the change, wait the judge window,
// read it again and judge; remember every bundle judged failed (in the state dir, so a restart
// never takes it again). The agent reverts; this file only reads, waits and remembers.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '@confd-haproxy/base';
import { bundleKey, type BundleId } from './adoption.js';
import { writeApplied, type Applied } from './bundle.js';
import { sampleHaproxy, type StatSample } from './haproxy-stats.js';
import { judge, type Verdict } from './judge.js';
import type { JudgeRules } from './rollout.js';
import type { InstanceStatus } from './status.js';

/** Where the "before" reading came from: a sample, or why there is none. */
export type Before = { sample: StatSample } | { problem: string };

/** HAProxy's numbers before a change (never throws: a missing reading fails the judgement later). */
export async function readBefore(socket: string | undefined): Promise<Before> {
  if (!socket) return { problem: 'no --stats-socket: HAProxy\'s numbers cannot be read, so the change cannot be judged' };
  try {
    return { sample: await sampleHaproxy(socket) };
  } catch (err) {
    return { problem: `HAProxy's stats socket did not answer before the change (${(err as Error).message})` };
  }
}

/** A few readings after the window, 500 ms apart: a reload may leave the socket briefly gone. */
async function readAfter(socket: string, signal: AbortSignal): Promise<StatSample | string> {
  let last = '';
  for (let i = 0; i < 5 && !signal.aborted; i++) {
    try {
      return await sampleHaproxy(socket);
    } catch (err) {
      last = (err as Error).message;
      await sleep(500, signal).catch(() => {});
    }
  }
  return `HAProxy's stats socket does not answer after the change (${last})`;
}

const failed = (reason: string): Verdict => ({
  ok: false,
  reasons: [reason],
  numbers: { emptiedBackends: [], goneListens: [], downServers: [], checkFailures: 0, errors: 0, sessions: 0, errorRateBefore: 0, errorRateAfter: 0 },
});

/** Wait the judge window, read HAProxy and judge; undefined when the signal ended it first. */
export async function judgeChange(socket: string | undefined, before: Before, rules: JudgeRules, signal: AbortSignal): Promise<Verdict | undefined> {
  await sleep(rules.judgeMs, signal).catch(() => {});
  if (signal.aborted) return undefined;
  if ('problem' in before) return failed(before.problem);
  const after = await readAfter(socket!, signal);
  if (signal.aborted) return undefined;
  return typeof after === 'string' ? failed(after) : judge(before.sample, after, rules);
}

/** A bundle judged failed here: never taken again, also after a restart. */
export interface Judged {
  version: number;
  checksum: string;
  key: string;
  reason: string;
  at: string;
}

const judgedFile = (stateDir: string) => join(stateDir, 'judged.json');

/** The bundles judged failed on this instance (the newest 64). */
export function readJudged(stateDir: string): Judged[] {
  try {
    const list = JSON.parse(readFileSync(judgedFile(stateDir), 'utf8')) as unknown;
    return Array.isArray(list) ? list.filter((j): j is Judged => typeof (j as Judged)?.key === 'string') : [];
  } catch {
    return [];
  }
}

/** Remember b as judged failed. */
export function recordJudged(stateDir: string, b: BundleId, reason: string, key = bundleKey(b)): Judged {
  const entry = { version: b.version, checksum: b.checksum, key, reason, at: new Date().toISOString() };
  const list = [...readJudged(stateDir), entry].slice(-64);
  const file = judgedFile(stateDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(list, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return entry;
}

/** The status says the instance waits for b, and why; false when it said so already. */
export function waiting(status: InstanceStatus, b: BundleId, reason: string): boolean {
  if (status.waiting?.checksum === b.checksum && status.waiting.reason === reason) return false;
  status.waiting = { version: b.version, checksum: b.checksum, since: new Date().toISOString(), reason };
  return true;
}

/** The status after b was judged failed and the instance went back to `previous` (none: its --confdir). */
export function reverted(status: InstanceStatus, b: BundleId, previous: { version: number; checksum: string } | undefined, reason: string): void {
  const at = new Date().toISOString();
  Object.assign(status, { version: previous?.version ?? 0, checksum: previous?.checksum ?? '', appliedAt: at });
  status.refused = { version: b.version, checksum: b.checksum, at, reason: `judged failed (${reason}); reverted` };
  if (status.rollout?.checksum === b.checksum) status.rollout.reverted = true;
}

/** A judgement under way: the bundle judged and what ran before it (kept until the verdict). */
export interface Judging {
  version: number;
  checksum: string;
  key: string;
  previous?: Applied;
}

const judgingFile = (stateDir: string) => join(stateDir, 'judging.json');

export function readJudging(stateDir: string): Judging | undefined {
  try {
    const j = JSON.parse(readFileSync(judgingFile(stateDir), 'utf8')) as Judging;
    return typeof j?.key === 'string' && typeof j.checksum === 'string' ? j : undefined;
  } catch {
    return undefined;
  }
}

/** Remember that b is being judged (a restart before the verdict goes back to `previous`); undefined b: the verdict came. */
export function writeJudging(stateDir: string, b: BundleId | undefined, previous?: Applied): void {
  const file = judgingFile(stateDir);
  if (!b) return rmSync(file, { force: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ version: b.version, checksum: b.checksum, key: bundleKey(b), ...(previous ? { previous } : {}) })}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** fleet.json names `previous` again (none: the instance's own --confdir). */
export function restoreApplied(stateDir: string, previous: Applied | undefined): void {
  if (previous) writeApplied(stateDir, previous);
  else rmSync(join(stateDir, 'fleet.json'), { force: true });
}
