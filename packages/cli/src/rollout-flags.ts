// Canary rollouts from the command line: push --canary and its judge flags read into options,
// the instance's --instance-label and --stats-socket checked, and the rollout driven with one
// line per stage (push, and push --resume after a pusher that stopped).
import type { KeyObject } from 'node:crypto';
import { UsageError, type Logger } from '@confd-haproxy/base';
import { DEFAULT_JUDGE, driveRollout, labelProblem, parseBundle, readRollout, BUNDLE_KEY, type Bundle, type JudgeRules, type RolloutRecord } from '@confd-haproxy/fleet';
import type { KVStore } from '@confd-haproxy/kv';
import { EXIT, parseDuration } from './common.js';

export interface RolloutFlags {
  canary?: string;
  judge?: string;
  judgeErrorMargin?: string;
  judgeMaxDown?: string;
  judgeAllowGone?: string;
  waves?: string;
  reportGrace?: string;
  resume?: boolean;
  instanceLabel?: string[];
}

const count = (v: string, flag: string): number => {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: "${v}" is not a whole number ≥ 0`);
  return Number(v);
};

/** --waves 10%,50%,100%: rising percentages ending at 100. */
function waves(text: string): number[] {
  const list = text.split(',').map((w) => Number(w.trim().replace(/%$/, '')));
  const ok = list.length > 0 && list.every((p, i) => Number.isInteger(p) && p > 0 && p <= 100 && (i === 0 || p > list[i - 1]!)) && list.at(-1) === 100;
  if (!ok) throw new UsageError(`--waves: "${text}" is not a rising list of percentages ending at 100% (e.g. 10%,50%,100%)`);
  return list;
}

/** The judge rules from --judge, --judge-error-margin (percentage points), --judge-max-down and --judge-allow-gone. */
export function judgeRules(f: RolloutFlags): JudgeRules {
  const judgeMs = parseDuration(f.judge ?? '60s', '--judge', 's');
  if (judgeMs < 1000) throw new UsageError('--judge: at least 1s (HAProxy needs a few health checks to say anything)');
  const margin = Number(String(f.judgeErrorMargin ?? '1').replace(/%$/, ''));
  if (!(margin >= 0 && margin <= 100)) throw new UsageError(`--judge-error-margin: "${f.judgeErrorMargin}" is not a percentage 0..100`);
  return {
    ...DEFAULT_JUDGE,
    judgeMs,
    errorMargin: margin / 100,
    allowGone: count(f.judgeAllowGone ?? '0', '--judge-allow-gone'),
    ...(f.judgeMaxDown !== undefined ? { maxDown: count(f.judgeMaxDown, '--judge-max-down') } : {}),
  };
}

/** push's rollout options (undefined without --canary); the judge flags need --canary. */
export function rolloutOptions(f: RolloutFlags): { canary: string; judge: JudgeRules; waves: number[] } | undefined {
  const judgeFlags = [f.judge, f.judgeErrorMargin, f.judgeMaxDown, f.judgeAllowGone, f.waves].some((v) => v !== undefined);
  if (!f.canary) {
    if (judgeFlags) throw new UsageError('--judge, --judge-* and --waves apply to a canary rollout: they need --canary');
    return undefined;
  }
  return { canary: f.canary, judge: judgeRules(f), waves: waves(f.waves ?? '100%') };
}

/** --instance-label k=v, checked. */
export function instanceLabels(f: RolloutFlags): string[] {
  const labels = f.instanceLabel ?? [];
  const bad = labels.map(labelProblem).find(Boolean);
  if (bad) throw new UsageError(`--instance-label: ${bad}`);
  return labels;
}

export interface DriveIO {
  store: KVStore;
  stdout: NodeJS.WritableStream;
  logger: Logger;
  signal: AbortSignal;
  signKey?: KeyObject;
  reportGrace?: string;
}

const stageLine = (r: RolloutRecord) =>
  `rollout of version ${r.version}: ${r.stage === 'wave' ? `wave ${r.wave}, ${r.ids?.length ?? 0} instance(s) may take it` : r.stage === 'failed' ? `failed: ${r.reason}` : r.stage === 'canary' ? 'canaries take it first' : 'promoted to every instance'}\n`;

/** Drive a rollout to its end, one line per stage; exit 0 when promoted, 1 when it failed. */
export async function driveAndReport(io: DriveIO, bundle: Bundle, from?: RolloutRecord): Promise<number> {
  const r = await driveRollout(
    bundle,
    { store: io.store, logger: io.logger, signal: io.signal, ...(io.signKey ? { signKey: io.signKey } : {}), reportGraceMs: parseDuration(io.reportGrace ?? '60s', '--report-grace', 's'), onRecord: (rec) => io.stdout.write(stageLine(rec)) },
    from,
  );
  if (from && r.record === from) io.stdout.write(stageLine(r.record));
  return r.ok ? EXIT.OK : EXIT.FAILED;
}

/** push --resume: the rollout of the bundle in the store, from the record a stopped pusher left. */
export async function resumeRollout(io: DriveIO): Promise<number> {
  const pair = await io.store.get(BUNDLE_KEY);
  const bundle = pair ? parseBundle(pair.value) : undefined;
  if (!bundle?.rollout) throw new UsageError(`--resume: the bundle in the store (${bundle ? `version ${bundle.version}` : 'none'}) was not pushed with --canary: no rollout to resume`);
  if (bundle.signature && !io.signKey) throw new UsageError(`--resume: bundle version ${bundle.version} is signed; give the --sign-key it was signed with, or instances with --trust-key ignore the records`);
  const { record, problem } = await readRollout(io.store, io.signal);
  if (problem) io.logger.warn(`${problem}; judging the canaries again`);
  return driveAndReport(io, bundle, record);
}
