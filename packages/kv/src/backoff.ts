export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Exponential back-off with full jitter: a random delay in [0, min(max, base·2^attempt)), so
 * clients that failed together do not retry together. Attempt 0 is the first retry.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const n = Number.isFinite(attempt) ? Math.min(Math.max(Math.floor(attempt), 0), 30) : 0;
  const cap = Math.max(0, Math.min(opts.maxMs, opts.baseMs * 2 ** n));
  return Math.floor((opts.random ?? Math.random)() * cap);
}
