// Hard deadlines for the kinds' calls: a probe fails at its timeout, a target lookup gives up at
// twice it. Every controller sits in an in-flight set, so stopping a checker aborts them all.
import type { ProbeOutcome, ProbeResult } from './types.js';

// One reason for every abort: abort() without one builds a DOMException with a stack each time.
const DEADLINE = new Error('deadline');
export const STOPPED = new Error('checker stopped');
const DONE = new Error('probe over');

/**
 * Run fn with a hard deadline: its signal fires at the timeout and the result is a failure. The
 * controller sits in `inFlight` while it runs, so stopping the checker aborts it without a listener
 * per probe on a signal shared by every loop.
 */
export function withTimeout<P>(ms: number, inFlight: Set<AbortController>, fn: (signal: AbortSignal) => Promise<ProbeOutcome<P>>): Promise<ProbeResult & { data?: P }> {
  const started = Date.now();
  const ac = new AbortController();
  inFlight.add(ac);
  // One promise and one timer per probe (no race of two promises): this runs for every probe of every tag.
  return new Promise<ProbeResult & { data?: P }>((done) => {
    let settled = false;
    const settle = (r: ProbeOutcome<P>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      inFlight.delete(ac);
      ac.abort(DONE);
      done({ ...r, ms: Date.now() - started });
    };
    const failed = (err: unknown) => settle({ ok: false, reason: err instanceof Error ? err.message : String(err) });
    const timer = setTimeout(() => {
      ac.abort(DEADLINE);
      settle({ ok: false, reason: `no answer within ${ms} ms` });
    }, ms);
    try {
      fn(ac.signal).then(settle, failed);
    } catch (err) {
      failed(err);
    }
  });
}

/** The kind's targets within a deadline: its signal fires at ms, the pass gives up at 2·ms. */
export async function targetsWithin<R>(ms: number, inFlight: Set<AbortController>, fn: (signal: AbortSignal) => Promise<R>): Promise<R> {
  const ac = new AbortController();
  inFlight.add(ac);
  const soft = setTimeout(() => ac.abort(DEADLINE), ms);
  let hard: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(ac.signal),
      new Promise<never>((_, fail) => {
        hard = setTimeout(() => fail(new Error(`no answer within ${2 * ms} ms`)), 2 * ms);
      }),
    ]);
  } finally {
    clearTimeout(soft);
    clearTimeout(hard);
    inFlight.delete(ac);
    ac.abort(DONE);
  }
}
