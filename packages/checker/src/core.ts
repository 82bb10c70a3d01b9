// The loop every checker shares: probe every target of a tag concurrently with hard timeouts,
// count successes and failures (retry-up / retry-down), let the kind choose an entry, and write it
// only when it changed, with CAS, and only while holding the tag's lock.
import { sleep, type KVLock, type KVStore } from '@confd-haproxy/kv';
import { entryProblem, parseEntry, sameEntry, type Entry, type EntryBody } from './entry.js';

export interface Target {
  host: string;
  port: number;
}

export interface ProbeResult {
  ok: boolean;
  /** Why it failed, in a few words ("connection refused", "SQL thread not running"). */
  reason?: string;
  ms: number;
}

export interface CheckerLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** What a kind of checker says: how to find targets, how to probe one, how to choose. */
export interface CheckerKind<T extends Target = Target> {
  /** The key segment: haproxy/<kind>/<tag>. */
  readonly kind: string;
  targets(signal: AbortSignal): Promise<T[]>;
  probe(target: T, signal: AbortSignal): Promise<Omit<ProbeResult, 'ms'>>;
  /** The entry for this pass from the eligible targets (in target order) and the stored entry. */
  choose(eligible: T[], current: Entry | undefined, all: T[]): EntryBody | undefined;
  /** Original-style log line when the stored entry is kept. */
  okLine?(entry: Entry, storeName: string): string;
  /** Original-style log line when a new entry is written. */
  changedLine?(entry: Entry, previous: Entry | undefined): string;
  close?(): Promise<void>;
}

export interface TagCheckerOptions<T extends Target> {
  tag: string;
  kind: CheckerKind<T>;
  store: KVStore;
  logger: CheckerLogger;
  /** "host:pid": stored in entries and as the lock's holder. */
  checker: string;
  timeoutMs: number;
  retryUp: number;
  retryDown: number;
  /** Session TTL of the cluster lock (ms). */
  lockTtlMs: number;
  /** Skip the cluster lock (one pass for cron, or tests of the choice alone). */
  noLock?: boolean;
  now?: () => Date;
}

export interface PassReport<T extends Target = Target> {
  tag: string;
  key: string;
  results: { target: T; result: ProbeResult }[];
  eligible: T[];
  entry: Entry | undefined;
  wrote: boolean;
  holder: boolean;
  reason: string;
}

interface Counter {
  eligible: boolean;
  /** Known at least once: a fresh target is eligible on its first success. */
  seen: boolean;
  ups: number;
  downs: number;
}

const id = (t: Target) => `${t.host}:${t.port}`;

/** Run fn with a hard deadline: its signal fires at the timeout and the result is a failure. */
async function withTimeout(ms: number, parent: AbortSignal, fn: (signal: AbortSignal) => Promise<Omit<ProbeResult, 'ms'>>): Promise<ProbeResult> {
  const started = Date.now();
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  parent.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Omit<ProbeResult, 'ms'>>((done) => {
    timer = setTimeout(() => {
      ac.abort();
      done({ ok: false, reason: `no answer within ${ms} ms` });
    }, ms);
  });
  try {
    const r = await Promise.race([fn(ac.signal).catch((err: unknown) => ({ ok: false, reason: err instanceof Error ? err.message : String(err) })), timeout]);
    return { ...r, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
    parent.removeEventListener('abort', onAbort);
    ac.abort();
  }
}

export class TagChecker<T extends Target = Target> {
  readonly key: string;
  readonly lockKey: string;
  readonly #o: TagCheckerOptions<T>;
  readonly #counters = new Map<string, Counter>();
  #lock: KVLock | undefined;
  #lastRenew = 0;

  constructor(opts: TagCheckerOptions<T>) {
    this.#o = opts;
    this.key = `haproxy/${opts.kind.kind}/${opts.tag}`;
    this.lockKey = `haproxy/.locks/${opts.kind.kind}/${opts.tag}`;
  }

  get holder(): boolean {
    return this.#lock !== undefined;
  }

  /** Take or keep the tag's lock; a holder whose renew fails stops writing at once. */
  async #ensureLock(): Promise<boolean> {
    const o = this.#o;
    if (o.noLock) return true;
    const now = Date.now();
    if (this.#lock) {
      if (now - this.#lastRenew < o.lockTtlMs / 3) return true;
      let kept = false;
      try {
        kept = await this.#lock.renew();
      } catch (err) {
        o.logger.warn(`${o.tag}: cannot renew the lock (${(err as Error).message}); not writing until it is held again`);
      }
      if (kept) {
        this.#lastRenew = now;
        return true;
      }
      o.logger.warn(`${o.tag}: lost the lock ${this.lockKey}; another checker writes this tag now`);
      this.#lock = undefined;
    }
    try {
      // A short lock-delay: a holder stops writing as soon as a renew fails (every TTL/3).
      this.#lock = await o.store.acquireLock(this.lockKey, { holder: o.checker, ttlMs: o.lockTtlMs, lockDelayMs: 1000 });
    } catch (err) {
      o.logger.warn(`${o.tag}: cannot take the lock (${(err as Error).message})`);
      this.#lock = undefined;
    }
    if (this.#lock) {
      this.#lastRenew = Date.now();
      o.logger.info(`${o.tag}: holding the lock ${this.lockKey}`);
    }
    return this.#lock !== undefined;
  }

  #count(t: T, ok: boolean): Counter {
    const o = this.#o;
    const c = this.#counters.get(id(t)) ?? { eligible: false, seen: false, ups: 0, downs: 0 };
    if (ok) {
      c.ups++;
      c.downs = 0;
      if (!c.eligible && (!c.seen || c.ups >= o.retryUp)) c.eligible = true;
    } else {
      c.downs++;
      c.ups = 0;
      if (c.eligible && c.downs >= o.retryDown) c.eligible = false;
    }
    c.seen = true;
    this.#counters.set(id(t), c);
    return c;
  }

  /** One pass: probe, count, choose, and write when the entry changed and we hold the lock. */
  async pass(signal: AbortSignal): Promise<PassReport<T>> {
    const o = this.#o;
    const base = { tag: o.tag, key: this.key };
    let targets: T[];
    try {
      targets = await o.kind.targets(signal);
    } catch (err) {
      return { ...base, results: [], eligible: [], entry: undefined, wrote: false, holder: this.holder, reason: `cannot list targets: ${(err as Error).message}` };
    }
    const results = await Promise.all(targets.map(async (target) => ({ target, result: await withTimeout(o.timeoutMs, signal, (s) => o.kind.probe(target, s)) })));
    for (const { target, result } of results) {
      const c = this.#count(target, result.ok);
      if (!result.ok) o.logger.debug(`${o.tag}: ${id(target)} failed (${result.reason}); ${c.downs} in a row`);
    }
    const eligible = targets.filter((t) => this.#counters.get(id(t))?.eligible);
    const holder = await this.#ensureLock();
    for (let attempt = 0; attempt < 3; attempt++) {
      let stored;
      try {
        stored = await o.store.get(this.key, { signal });
      } catch (err) {
        return { ...base, results, eligible, entry: undefined, wrote: false, holder, reason: `cannot read ${this.key}: ${(err as Error).message}` };
      }
      const current = parseEntry(stored?.value);
      const chosen = o.kind.choose(eligible, current, targets);
      if (!chosen) return { ...base, results, eligible, entry: current, wrote: false, holder, reason: 'nothing to choose; entry kept' };
      const entry: Entry = { ...chosen, version: 1, checker: o.checker, updated: (o.now?.() ?? new Date()).toISOString() };
      if (current && sameEntry(current, entry)) {
        o.logger.info(o.kind.okLine?.(current, o.store.describe.split(' ')[0] ?? 'store') ?? `${o.tag} in store is ok`);
        return { ...base, results, eligible, entry: current, wrote: false, holder, reason: 'unchanged' };
      }
      const problem = entryProblem(entry);
      if (problem) {
        o.logger.error(`${o.tag}: refusing to write a bad entry to ${this.key}: ${problem}`);
        return { ...base, results, eligible, entry: current, wrote: false, holder, reason: `bad entry: ${problem}` };
      }
      if (!holder) return { ...base, results, eligible, entry: current, wrote: false, holder, reason: 'standby: another checker holds the lock' };
      let ok: boolean;
      try {
        ok = await o.store.put(this.key, JSON.stringify(entry), { cas: stored?.modifyIndex ?? 0, signal });
      } catch (err) {
        return { ...base, results, eligible, entry: current, wrote: false, holder, reason: `cannot write ${this.key}: ${(err as Error).message}` };
      }
      if (ok) {
        o.logger.info(o.kind.changedLine?.(entry, current) ?? `${o.tag}: set ${entry.host}:${entry.port}`);
        return { ...base, results, eligible, entry, wrote: true, holder, reason: 'changed' };
      }
      // Lost the CAS race: read again and decide again.
    }
    return { ...base, results, eligible, entry: undefined, wrote: false, holder, reason: 'CAS kept failing' };
  }

  /** Give the lock up (SIGTERM): a standby may take over at once. */
  async release(): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release().catch(() => {});
  }

  /** Release the lock and the kind's connections. */
  async close(): Promise<void> {
    await this.release();
    await this.#o.kind.close?.();
  }
}

/** Run passes every intervalMs until the signal fires; then release the lock. */
export async function runTagChecker<T extends Target>(checker: TagChecker<T>, opts: { intervalMs: number; signal: AbortSignal; onPass?: (r: PassReport<T>) => void }): Promise<void> {
  try {
    while (!opts.signal.aborted) {
      const started = Date.now();
      const report = await checker.pass(opts.signal);
      opts.onPass?.(report);
      await sleep(Math.max(0, opts.intervalMs - (Date.now() - started)), opts.signal);
    }
  } finally {
    await checker.close();
  }
}
