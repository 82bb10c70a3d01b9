// What a pass does with the kind's choice, given the stored entry and whether this checker may
// write now: keep the entry, write a new one, refuse a bad one, or stand by. No I/O, no clock:
// TagChecker reads the entry before and does the CAS write after.
import { entryProblem, sameEntry, type Entry } from '@confd-haproxy/schema';
import type { Choice } from './types.js';

/** The level the outcome is told at; silent: not at all. */
export type DecisionLogLevel = 'silent' | 'debug' | 'info' | 'error';

export interface DecisionInput {
  /** The stored entry, parsed; none when the key is empty or holds no valid entry. */
  stored: Entry | undefined;
  /** The kind's answer for this pass; no entry keeps the stored one. */
  choice: Choice;
  /** Whether any target may serve after retry-up / retry-down. */
  anyEligible: boolean;
  /** This checker holds a fresh lock, read right before the write that would follow. */
  mayWrite: boolean;
  /** The last pass that kept or wrote the entry found it unchanged: a steady pass is told at debug. */
  wasUnchanged: boolean;
  /** Stamped on an entry written: this checker ("host:pid") and when (ISO 8601). */
  checker: string;
  updated: string;
  /** Each target's last failure, for the reason when none may serve; asked only then. */
  failures: () => string;
}

export type Decision =
  /** The stored entry stays; confirmed: the kind chose exactly it (the "ok" line is told). */
  | { action: 'keep'; reason: string; logLevel: 'silent' | 'debug' | 'info'; entry: Entry | undefined; confirmed: boolean }
  /** entry is the one to put with CAS. */
  | { action: 'write'; reason: 'changed'; logLevel: 'info'; entry: Entry }
  /** The chosen entry breaks the schema; the stored one stays. */
  | { action: 'refuse'; reason: string; logLevel: 'error'; entry: Entry | undefined; problem: string }
  /** Another checker holds the lock (or this one's renew failed); the stored one stays. */
  | { action: 'standby'; reason: string; logLevel: 'silent'; entry: Entry | undefined };

export function decide(i: DecisionInput): Decision {
  const chosen = i.choice.entry;
  if (!chosen) {
    const reason = i.anyEligible ? 'nothing to choose; entry kept' : `no healthy server (${i.failures()}); entry kept`;
    return { action: 'keep', reason, logLevel: 'silent', entry: i.stored, confirmed: false };
  }
  const entry: Entry = { ...chosen, version: 1, checker: i.checker, updated: i.updated };
  // Told at info when the state becomes ok (first pass, after a change or a failure); each steady pass is debug.
  if (i.stored && sameEntry(i.stored, entry)) return { action: 'keep', reason: 'unchanged', logLevel: i.wasUnchanged ? 'debug' : 'info', entry: i.stored, confirmed: true };
  const problem = entryProblem(entry);
  if (problem) return { action: 'refuse', reason: `bad entry: ${problem}`, logLevel: 'error', entry: i.stored, problem };
  if (!i.mayWrite) return { action: 'standby', reason: 'standby: another checker holds the lock', logLevel: 'silent', entry: i.stored };
  return { action: 'write', reason: 'changed', logLevel: 'info', entry };
}
