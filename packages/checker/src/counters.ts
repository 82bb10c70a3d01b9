// Retry-up / retry-down: which targets may serve after their probes in a row. No I/O, no clock.
import type { Target } from './types.js';
import { targetId } from './target.js';

export interface Counter {
  eligible: boolean;
  /** Known at least once: a fresh target is eligible on its first success. */
  seen: boolean;
  ups: number;
  downs: number;
  /** Why its last probe failed. */
  reason?: string;
}

export interface RetryRule {
  /** Successes in a row before a failed target is eligible again. */
  retryUp: number;
  /** Failures in a row before an eligible target is dropped. */
  retryDown: number;
}

/** A target's counter after one more probe (a new object; the previous one is left as it was). */
export function counted(previous: Counter | undefined, ok: boolean, reason: string | undefined, rule: RetryRule): Counter {
  const c: Counter = { ...(previous ?? { eligible: false, seen: false, ups: 0, downs: 0 }) };
  if (ok) {
    c.ups++;
    c.downs = 0;
    if (!c.eligible && (!c.seen || c.ups >= rule.retryUp)) c.eligible = true;
  } else {
    c.downs++;
    c.ups = 0;
    c.reason = reason;
    if (c.eligible && c.downs >= rule.retryDown) c.eligible = false;
  }
  c.seen = true;
  return c;
}

/** "2 of 2" while counting towards --retry-down; "21 in a row" once past it (a long outage). */
export const downsText = (downs: number, retryDown: number) => (downs > retryDown ? `${downs} in a row` : `${downs} of ${retryDown}`);

/** Every target's counter, by "host:port". */
export class Counters {
  readonly #rule: RetryRule;
  readonly #byId = new Map<string, Counter>();

  constructor(rule: RetryRule) {
    this.#rule = rule;
  }

  /** Count one probe of t; its counter afterwards. */
  record(t: Target, ok: boolean, reason?: string): Counter {
    const c = counted(this.#byId.get(targetId(t)), ok, reason, this.#rule);
    this.#byId.set(targetId(t), c);
    return c;
  }

  get(t: Target): Counter | undefined {
    return this.#byId.get(targetId(t));
  }

  /** The targets that may serve, in their order. */
  eligible<T extends Target>(targets: readonly T[]): T[] {
    return targets.filter((t) => this.get(t)?.eligible);
  }

  /** "127.0.0.1:11211 connection refused; 127.0.0.1:11212 timed out after 500 ms": each target's last failure. */
  failures(targets: readonly Target[]): string {
    return targets.map((t) => `${targetId(t)} ${this.get(t)?.reason ?? 'not probed yet'}`).join('; ') || 'no targets';
  }
}
