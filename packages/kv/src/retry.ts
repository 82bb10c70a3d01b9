// Idempotent reads are tried again when the store, not the request, failed them: a reset on a
// reused keep-alive socket (the server closed it as the request went out) is the classic case.
// p-retry runs the attempts; this file only says which reads and how often.
import pRetry from 'p-retry';
import { KVError } from './errors.js';

/** Attempts after the first one, and the spread of the waits between them (ms, jittered ×1–2). */
export const READ_RETRY = { retries: 3, minMs: 25, maxMs: 400 } as const;

/**
 * Run `read`, and again (at most READ_RETRY.retries times, after a short jittered wait) while it
 * fails in a way `transient` accepts. Only for reads: a write whose answer was lost may have been
 * applied, so it is never sent again here.
 */
export async function retryRead<T>(read: () => Promise<T>, transient: (err: unknown) => boolean, signal?: AbortSignal): Promise<T> {
  try {
    return await pRetry(read, {
      retries: READ_RETRY.retries,
      minTimeout: READ_RETRY.minMs,
      maxTimeout: READ_RETRY.maxMs,
      factor: 3,
      randomize: true,
      ...(signal ? { signal } : {}),
      shouldRetry: ({ error }) => !signal?.aborted && transient(error),
    });
  } catch (err) {
    // Aborted during a wait: the seam's own abort error, as every other aborted call.
    if (signal?.aborted && !(err instanceof KVError)) throw new KVError('KV_ABORTED', 'aborted', { cause: signal.reason });
    throw err;
  }
}
