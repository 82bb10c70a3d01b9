// The watch loop above the seam: the same for every backend. It continues from the index the
// store returns, wakes the caller only when the data changed, and backs off with jitter while the
// store fails. After a failure it reads once without an index: a store that restarted (or was
// restored) starts its index low again, and a blocking read with the old, higher index would be
// held for its whole wait. An index below the last one seen is a reset (Consul's rule).
import { sleep } from '@confd-haproxy/base';
import { backoffDelay } from './backoff.js';
import { isKVError } from './errors.js';
import type { KVIndex, KVPair, KVSnapshot, KVWatcher, KVWatchOptions } from './types.js';

export type WatchPrefixOptions = WatchIndexedOptions<KVSnapshot>;

export function samePairs(a: readonly KVPair[], b: readonly KVPair[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.key !== y.key || x.value !== y.value || x.flags !== y.flags || x.session !== y.session) return false;
  }
  return true;
}

/** What any indexed watch is told about, whatever it reads (KV prefixes, catalog answers). */
export interface WatchIndexedOptions<S> {
  signal: AbortSignal;
  /** How long one blocking read may be held (ms). */
  waitMs?: number;
  backoff?: { baseMs: number; maxMs: number };
  /** Told about every failed read before the loop sleeps `delayMs` and retries. */
  onError?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Told after every answer, changed or not (for liveness: the loop is not stuck). */
  onPoll?: (snapshot: S) => void;
  /** Told when the store's index went backwards (a restart, restore or new cluster): its data may be partial. */
  onReset?: (reset: { from: number; to: number }) => void;
}

/** Yield the first answer of `read`, then one per real change (`same` says when), until the signal fires. */
export async function* watchIndexed<S extends { index: KVIndex; knownLeader: boolean }>(
  read: (since: KVIndex, opts: KVWatchOptions) => Promise<S>,
  same: (a: S, b: S) => boolean,
  opts: WatchIndexedOptions<S>,
): AsyncGenerator<S> {
  const backoff = opts.backoff ?? { baseMs: 250, maxMs: 10_000 };
  let last: S | undefined;
  let failures = 0;
  while (!opts.signal.aborted) {
    let snap: S;
    // Index 0 is a plain read: the first one, and the first one after any failure.
    const since = failures > 0 ? 0 : (last?.index ?? 0);
    try {
      snap = await read(since, { signal: opts.signal, ...(opts.waitMs ? { waitMs: opts.waitMs } : {}) });
    } catch (err) {
      if (opts.signal.aborted || isKVError(err, 'KV_ABORTED')) return;
      const delay = backoffDelay(failures, backoff);
      failures++;
      opts.onError?.(err, failures, delay);
      await sleep(delay, opts.signal);
      continue;
    }
    failures = 0;
    opts.onPoll?.(snap);
    if (last && snap.index < last.index) opts.onReset?.({ from: last.index, to: snap.index });
    const changed = !last || !same(last, snap) || last.knownLeader !== snap.knownLeader;
    last = snap;
    if (changed) yield snap;
  }
}

/** Yield the prefix's first snapshot, then one snapshot per real change, until the signal fires. */
export function watchPrefix(store: KVWatcher, prefix: string, opts: WatchPrefixOptions): AsyncGenerator<KVSnapshot> {
  return watchIndexed((since, o) => store.watch(prefix, since, o), (a, b) => samePairs(a.pairs, b.pairs), opts);
}
