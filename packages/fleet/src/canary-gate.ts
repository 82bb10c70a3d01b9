// The agent's rollout state: the rollout record last read (and whether it is trusted), which
// rollout bundle this instance may take, and the one judgement running in the background.
import { withFields, type Logger } from '@confd-haproxy/base';
import type { KVPair } from '@confd-haproxy/kv';
import type { Bundle } from './bundle.js';
import { judgeChange, readBefore, recordJudged, type Before } from './canary.js';
import { audienceOf, ROLLOUT_KEY, type Audience, type CanaryReport, type RolloutRecord } from './rollout.js';
import { recordTrustProblem, rolloutFromValue } from './rollout-record.js';
import type { TrustedKey } from './trust.js';

export interface RolloutGateOptions {
  id: string;
  labels: readonly string[];
  statsSocket: string | undefined;
  trustKeys: readonly TrustedKey[];
  logger: Logger;
  signal: AbortSignal;
}

/** What the gate tells the agent while it judges. */
export interface JudgeHooks {
  report(r: CanaryReport): void;
  failed(reason: string): Promise<void>;
}

export class RolloutGate {
  readonly #opts: RolloutGateOptions;
  #record: RolloutRecord | undefined;
  #problem: string | undefined;
  #ac = new AbortController();
  #judging: Promise<void> = Promise.resolve();

  constructor(opts: RolloutGateOptions) {
    this.#opts = opts;
  }

  /** Take the rollout record from a read of haproxy/.config/ (a bad or untrusted one promotes nobody). */
  readRecord(pairs: readonly KVPair[]): void {
    const { record, problem } = rolloutFromValue(pairs.find((p) => p.key === ROLLOUT_KEY)?.value);
    this.#record = record;
    this.#problem = problem ?? (record ? recordTrustProblem(record, this.#opts.trustKeys) : undefined);
  }

  /** Whether this instance takes b now (a canary, promoted, or a bundle without a rollout). */
  audience(b: Bundle): Audience {
    return audienceOf(b, { id: this.#opts.id, labels: this.#opts.labels }, this.#record, this.#problem);
  }

  /** HAProxy's numbers before a change. */
  before(): Promise<Before> {
    return readBefore(this.#opts.statsSocket);
  }

  /** Judge b after its window, in the background; a failed verdict calls hooks.failed. */
  judge(b: Bundle, role: 'canary' | 'promoted', before: Before, hooks: JudgeHooks): void {
    const rules = b.rollout!.judge;
    this.#ac = new AbortController();
    const signal = AbortSignal.any([this.#opts.signal, this.#ac.signal]);
    const base = { version: b.version, checksum: b.checksum, role, until: new Date(Date.now() + rules.judgeMs).toISOString() };
    hooks.report({ ...base, state: 'judging' });
    this.#judging = judgeChange(this.#opts.statsSocket, before, rules, signal)
      .then(async (v) => {
        if (!v) return;
        hooks.report({ ...base, state: v.ok ? 'passed' : 'failed', numbers: v.numbers, ...(v.ok ? {} : { reasons: v.reasons }) });
        if (!v.ok) await hooks.failed(v.reasons.join('; '));
        else this.#opts.logger.info(`bundle version ${b.version} judged passed on this HAProxy`);
      })
      .catch((err: unknown) => withFields(this.#opts.logger, { code: 'JUDGE_FAILED', err }).error(`judging bundle version ${b.version}: ${(err as Error).message}`));
  }

  /** End a judgement that runs (a newer bundle replaces the one judged, or the agent stops). */
  async stop(): Promise<void> {
    this.#ac.abort();
    await this.#judging;
  }

  /** Remember b as judged failed in the state dir; its key. */
  remember(stateDir: string, b: Bundle, reason: string): string {
    return recordJudged(stateDir, b, reason).key;
  }

}
