// The pusher's side of a canary rollout: pick the canaries, wait for their verdicts, then sign
// rollout records that promote the others wave by wave, or mark the rollout failed. Every step is
// in the store, so a pusher that died is resumed (push --resume) from the record it left.
import type { KeyObject } from 'node:crypto';
import { sleep, type Logger } from '@confd-haproxy/base';
import type { KVReader, KVWriter } from '@confd-haproxy/kv';
import type { Bundle } from './bundle.js';
import { FleetError } from './errors.js';
import { signRecord, writeRollout } from './rollout-record.js';
import { labelProblem, type CanarySet, type RolloutRecord, type RolloutStage } from './rollout.js';
import { readFleet, type InstanceStatus } from './status.js';

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** push --canary: a count (the first n instances by id), a label key=value, or instance ids (a prefix of 8+ characters is enough when one instance has it). */
export function resolveCanaries(spec: string, statuses: readonly InstanceStatus[]): CanarySet {
  const ids = statuses.map((s) => s.id).sort();
  if (/^\d{1,4}$/.test(spec)) {
    const n = Number(spec);
    if (n < 1 || n > ids.length) throw new FleetError('FLEET_BUNDLE_REFUSED', `--canary ${spec}: ${ids.length} instance(s) publish a status; pick 1 to ${ids.length}`);
    return { ids: ids.slice(0, n) };
  }
  if (spec.includes('=')) {
    const problem = labelProblem(spec);
    if (problem) throw new FleetError('FLEET_BUNDLE_REFUSED', `--canary: ${problem}`);
    if (!statuses.some((s) => s.labels?.includes(spec))) throw new FleetError('FLEET_BUNDLE_REFUSED', `--canary ${spec}: no instance publishes this label (--instance-label ${spec})`);
    return { label: spec };
  }
  const picked = spec.split(',').filter(Boolean).map((want) => {
    if (FULL_ID.test(want)) return want;
    const found = want.length >= 8 ? ids.filter((id) => id.startsWith(want)) : [];
    if (found.length !== 1) throw new FleetError('FLEET_BUNDLE_REFUSED', `--canary: "${want}" names ${found.length ? 'several instances' : 'no instance'} (give a count, a label key=value, or instance ids, 8 characters at least)`);
    return found[0]!;
  });
  return { ids: [...new Set(picked)] };
}

/** An instance's verdict on b, as its status says (pending: none yet). */
type Verdict = { state: 'passed' } | { state: 'failed'; reason: string } | { state: 'pending' };

export function verdictOf(s: InstanceStatus | undefined, b: Pick<Bundle, 'checksum'>): Verdict {
  if (!s) return { state: 'pending' };
  if (s.refused?.checksum === b.checksum) return { state: 'failed', reason: s.refused.reason };
  const r = s.rollout?.checksum === b.checksum ? s.rollout : undefined;
  if (r?.state === 'failed') return { state: 'failed', reason: (r.reasons ?? []).join('; ') || 'judged failed' };
  return r?.state === 'passed' ? { state: 'passed' } : { state: 'pending' };
}

export interface DriveOptions {
  store: KVReader & KVWriter;
  signKey?: KeyObject;
  logger: Logger;
  signal: AbortSignal;
  /** How long past the judge window an instance may take to adopt and report (ms; default 60 s). */
  reportGraceMs?: number;
  pollMs?: number;
  /** Each record as it is written (the CLI prints the stages). */
  onRecord?: (r: RolloutRecord) => void;
}

export interface DriveResult {
  ok: boolean;
  record: RolloutRecord;
}

const who = (s: InstanceStatus | undefined, id: string) => `${id.slice(0, 8)}${s ? ` (${s.host})` : ''}`;

/** Drive b's rollout from `from` (a record left by a pusher that stopped) to promoted or failed. */
export async function driveRollout(b: Bundle, opts: DriveOptions, from?: RolloutRecord): Promise<DriveResult> {
  const rollout = b.rollout;
  if (!rollout) throw new FleetError('FLEET_BUNDLE_REFUSED', `bundle version ${b.version} has no canary rollout to drive`);
  const mine = from?.version === b.version && from.checksum === b.checksum ? from : undefined;
  if (mine && (mine.stage === 'failed' || mine.stage === 'promoted')) return { ok: mine.stage === 'promoted', record: mine };
  const write = async (stage: RolloutStage, extra: Partial<RolloutRecord> = {}): Promise<RolloutRecord> => {
    const r = signRecord({ version: b.version, checksum: b.checksum, stage, at: new Date().toISOString(), ...extra }, opts.signKey);
    await writeRollout(opts.store, r);
    opts.onRecord?.(r);
    return r;
  };
  const statuses = async () => new Map((await readFleet(opts.store, opts.signal)).rows.map((r) => [r.id, r.status]));
  const canaries = async () => ('ids' in rollout.canaries ? rollout.canaries.ids : [...(await statuses()).values()].filter((s) => s.labels?.includes((rollout.canaries as { label: string }).label)).map((s) => s.id));
  const failed = async (reason: string): Promise<DriveResult> => ({ ok: false, record: await write('failed', { reason }) });

  if (!mine || mine.stage === 'canary') {
    if (!mine) await write('canary');
    const chosen = await canaries();
    // No canary is no judgement: never a reason to promote.
    if (!chosen.length) return failed(`no instance with --instance-label ${(rollout.canaries as { label: string }).label} publishes a status: nobody judged it`);
    const problem = await waitVerdicts(b, chosen, opts, 'canary');
    if (problem) return failed(problem);
  }
  let last: RolloutRecord | undefined;
  // Wave by wave: the canaries and the first p% of the others (by id); the last wave (100%) is everyone.
  for (let i = mine?.stage === 'wave' ? mine.wave! - 1 : 0; i < rollout.waves.length; i++) {
    const pct = rollout.waves[i]!;
    const known = await statuses();
    const skip = new Set(await canaries());
    const others = [...known.keys()].filter((id) => !skip.has(id)).sort();
    const ids = pct >= 100 ? others : [...skip, ...others.slice(0, Math.ceil((others.length * pct) / 100))];
    last = await write(pct >= 100 ? 'promoted' : 'wave', pct >= 100 ? {} : { wave: i + 1, ids });
    const problem = await waitVerdicts(b, ids, opts, pct >= 100 ? 'promoted' : `wave ${i + 1}`);
    if (problem) return failed(problem);
  }
  return { ok: true, record: last! };
}

/** Wait until every id passed (undefined), one failed, or the window and its grace are over (why not). */
async function waitVerdicts(b: Bundle, ids: readonly string[], opts: DriveOptions, stage: string): Promise<string | undefined> {
  const deadline = Date.now() + b.rollout!.judge.judgeMs + (opts.reportGraceMs ?? 60_000);
  const poll = opts.pollMs ?? 500;
  for (;;) {
    opts.signal.throwIfAborted(); // a stopped pusher judges nothing: push --resume goes on from the record
    const known = new Map((await readFleet(opts.store, opts.signal)).rows.map((r) => [r.id, r.status]));
    const verdicts = ids.map((id) => ({ id, s: known.get(id), v: verdictOf(known.get(id), b) }));
    const bad = verdicts.find((x) => x.v.state === 'failed');
    if (bad && bad.v.state === 'failed') return `${stage} ${who(bad.s, bad.id)}: ${bad.v.reason}`;
    const pending = verdicts.filter((x) => x.v.state === 'pending');
    if (!pending.length) return undefined;
    if (Date.now() >= deadline) return `${stage}: no verdict from ${pending.map((x) => who(x.s, x.id)).join(', ')} in time`;
    opts.logger.debug(`${stage}: waiting for ${pending.length} verdict(s)`);
    await sleep(poll, opts.signal).catch(() => {});
  }
}
