// A canary rollout, as the pusher signs it: who gets a bundle first (the canaries, in the bundle),
// how each instance judges it on its own HAProxy (the rules, in the bundle), and who else may take
// it (the rollout record, haproxy/.config/rollout, signed after the pusher judged the canaries).
// An instance outside the signed audience waits; a store writer cannot widen or promote it.
import { CONFIG_PREFIX } from '@confd-haproxy/schema';
import { FleetError } from './errors.js';
import type { JudgeRules, Rollout } from './types.js';

export type { CanarySet, JudgeRules, Rollout } from './types.js';

export const ROLLOUT_KEY = `${CONFIG_PREFIX}rollout`;

/** The judgement push --canary asks for when no --judge* flag says otherwise. */
export const DEFAULT_JUDGE: JudgeRules = { judgeMs: 60_000, errorMargin: 0.01, minErrors: 5, allowGone: 0 };

/** What the judgement read, as it is published in the instance's status. */
export interface JudgeNumbers {
  /** Backends UP before that have no healthy server after (HAProxy reports them DOWN). */
  emptiedBackends: string[];
  /** Listens (frontends) that served before and are gone after. */
  goneListens: string[];
  /** Servers DOWN after that were not before (proxy/server). */
  downServers: string[];
  /** Failed health checks in the window. */
  checkFailures: number;
  /** Connection and response errors in the window, and sessions. */
  errors: number;
  sessions: number;
  /** Errors per session before the change (the old worker's lifetime) and in the window. */
  errorRateBefore: number;
  errorRateAfter: number;
}

/** What an instance that took a rollout bundle says about it in its status. */
export interface CanaryReport {
  version: number;
  checksum: string;
  /** A canary, or an instance a wave promoted. */
  role: 'canary' | 'promoted';
  state: 'judging' | 'passed' | 'failed';
  /** When the judge window ends (judging) or ended. */
  until: string;
  reasons?: string[];
  numbers?: JudgeNumbers;
  /** Failed, and back on the bundle it ran before. */
  reverted?: boolean;
}

export type RolloutStage = 'canary' | 'wave' | 'promoted' | 'failed';

/** haproxy/.config/rollout: how far the pusher let the bundle go. */
export interface RolloutRecord {
  version: number;
  checksum: string;
  stage: RolloutStage;
  /** With stage wave: the wave's number (1…) and the ids promoted so far (every earlier wave's too). */
  wave?: number;
  ids?: string[];
  /** With stage failed: why. */
  reason?: string;
  at: string;
  signature?: { alg: 'ed25519'; keyId: string; sig: string };
}

const LABEL = /^[A-Za-z0-9_.\-/]{1,63}=[A-Za-z0-9_.\-]{0,63}$/;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Why a label is not `key=value` (--instance-label, --canary label), or undefined. */
export function labelProblem(label: string): string | undefined {
  return LABEL.test(label) ? undefined : `"${label}" is not key=value (letters, digits, _ . - /)`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

/** Why a stored rollout (a bundle's `rollout`) is not one, or undefined. */
export function rolloutProblem(r: unknown): string | undefined {
  if (!isObject(r)) return 'not an object';
  const c = r.canaries;
  if (!isObject(c)) return 'canaries is not an object';
  if ('ids' in c) {
    if (!Array.isArray(c.ids) || c.ids.length === 0 || !c.ids.every((id) => typeof id === 'string' && ID.test(id))) return 'canaries.ids must be instance ids';
  } else if (typeof c.label !== 'string' || labelProblem(c.label)) return 'canaries must name ids or a label key=value';
  const j = r.judge;
  if (!isObject(j)) return 'judge is not an object';
  if (!isCount(j.judgeMs) || (j.judgeMs as number) < 1000) return 'judge.judgeMs must be at least 1000';
  if (typeof j.errorMargin !== 'number' || !(j.errorMargin >= 0 && j.errorMargin <= 1)) return 'judge.errorMargin must be a fraction 0..1';
  if (!isCount(j.minErrors) || !isCount(j.allowGone) || (j.maxDown !== undefined && !isCount(j.maxDown))) return 'judge.minErrors, allowGone and maxDown are counts';
  const w = r.waves;
  if (!Array.isArray(w) || w.length === 0 || !w.every((p, i) => Number.isInteger(p) && p > 0 && p <= 100 && (i === 0 || p > w[i - 1]!)) || w.at(-1) !== 100) return 'waves must rise to 100';
  return undefined;
}

/** The rollout in a fixed order, for the signature (a reordered copy is the same rollout). */
export function rolloutFields(r: Rollout): unknown[] {
  const c = 'ids' in r.canaries ? ['ids', [...r.canaries.ids].sort()] : ['label', r.canaries.label];
  const j = r.judge;
  return [c, [j.judgeMs, j.errorMargin, j.minErrors, j.maxDown ?? null, j.allowGone], r.waves];
}

/** The bytes the pusher signs for a rollout record. */
export function recordSignedBytes(r: Omit<RolloutRecord, 'signature'>): Buffer {
  return Buffer.from(JSON.stringify(['confd-haproxy rollout 1', r.version, r.checksum, r.stage, r.wave ?? null, r.ids ? [...r.ids].sort() : null, r.reason ?? null, r.at]));
}

/** A stored rollout record, checked field by field; errors name the key. */
export function parseRolloutRecord(value: string): RolloutRecord {
  const bad = (what: string): never => {
    throw new FleetError('FLEET_BAD_BUNDLE', `${ROLLOUT_KEY}: ${what}`);
  };
  let r: unknown;
  try {
    r = JSON.parse(value);
  } catch (err) {
    return bad(`not JSON (${(err as Error).message})`);
  }
  if (!isObject(r)) return bad('not an object');
  if (!Number.isSafeInteger(r.version) || typeof r.checksum !== 'string' || typeof r.at !== 'string') bad('version, checksum and at are required');
  if (!['canary', 'wave', 'promoted', 'failed'].includes(r.stage as string)) bad(`stage ${JSON.stringify(r.stage)} is not canary, wave, promoted or failed`);
  if (r.ids !== undefined && (!Array.isArray(r.ids) || !r.ids.every((id) => typeof id === 'string' && ID.test(id)))) bad('ids must be instance ids');
  if (r.wave !== undefined && !isCount(r.wave)) bad('wave is not a count');
  if (r.reason !== undefined && typeof r.reason !== 'string') bad('reason is not text');
  return r as unknown as RolloutRecord;
}

/** This instance as the audience sees it: its id and its own --instance-label flags. */
export interface Member {
  id: string;
  labels: readonly string[];
}

export const isCanary = (r: Rollout, me: Member): boolean => ('ids' in r.canaries ? r.canaries.ids.includes(me.id) : me.labels.includes(r.canaries.label));

/** Whether this instance takes a bundle now: as a canary, promoted by the record, or not (and why it waits). */
export type Audience = { take: true; role: 'canary' | 'promoted' | 'everyone' } | { take: false; reason: string };

/**
 * The audience decision: a bundle without a rollout is for everyone; with one, a canary takes it,
 * any other instance only when a trusted record for this very bundle promotes it.
 */
export function audienceOf(b: { version: number; checksum: string; rollout?: Rollout }, me: Member, record: RolloutRecord | undefined, recordProblem?: string): Audience {
  if (!b.rollout) return { take: true, role: 'everyone' };
  if (isCanary(b.rollout, me)) return { take: true, role: 'canary' };
  const judging = { take: false as const, reason: `waits for the canaries of version ${b.version} to be judged` };
  if (!record || record.version !== b.version || record.checksum !== b.checksum) return judging;
  if (recordProblem) return { take: false, reason: `the rollout record is not trusted (${recordProblem})` };
  if (record.stage === 'failed') return { take: false, reason: `the rollout of version ${b.version} failed: ${record.reason ?? 'no reason given'}` };
  if (record.stage === 'promoted') return { take: true, role: 'promoted' };
  if (record.stage === 'wave' && record.ids?.includes(me.id)) return { take: true, role: 'promoted' };
  if (record.stage === 'canary') return judging;
  return { take: false, reason: `waits for a later wave of version ${b.version}` };
}
