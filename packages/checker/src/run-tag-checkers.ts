// Many tags' loops in one process, stopped together by one signal.
import type { TagChecker } from './core.js';
import type { PassReport, Target } from './types.js';

export interface RunTagCheckerOptions<T extends Target = Target> {
  intervalMs: number;
  signal: AbortSignal;
  onPass?: (r: PassReport<T>) => void;
}

/**
 * Run every checker's loop until the signal fires; then each releases its lock and closes its kind.
 * One listener on the signal for all of them: a listener per loop or per probe on one shared signal
 * is what Node reports as a MaxListeners leak once there are more than ten tags.
 */
export async function runTagCheckers<T extends Target>(checkers: readonly TagChecker<T>[], opts: RunTagCheckerOptions<T>): Promise<void> {
  const stopAll = () => {
    for (const c of checkers) c.stop();
  };
  if (opts.signal.aborted) stopAll();
  opts.signal.addEventListener('abort', stopAll, { once: true });
  try {
    await Promise.all(checkers.map((c) => c.run({ intervalMs: opts.intervalMs, ...(opts.onPass ? { onPass: opts.onPass } : {}) })));
  } finally {
    opts.signal.removeEventListener('abort', stopAll);
  }
}

/** One checker's loop (runTagCheckers for one). */
export function runTagChecker<T extends Target>(checker: TagChecker<T>, opts: RunTagCheckerOptions<T>): Promise<void> {
  return runTagCheckers([checker], opts);
}
