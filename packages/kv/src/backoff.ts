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

/** Wait ms, or less when the signal fires; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((done) => {
    if (signal?.aborted) return done();
    const t = setTimeout(finish, ms);
    function finish() {
      clearTimeout(t);
      signal?.removeEventListener('abort', finish);
      done();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}

/** Whether a process with this PID exists on this host (EPERM: it exists, owned by another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
