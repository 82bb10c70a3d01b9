// The tag's cluster lock: taken, renewed every TTL/4 at most, told when lost, given back. A checker
// writes only while `mayWrite`: it holds the lock and its last renew succeeded within the TTL.
import type { Logger } from '@confd-haproxy/base';
import { withFields, type KVLock, type KVLocker, type KVReader, type OutageLog } from '@confd-haproxy/kv';

export interface LockKeeperOptions {
  /** The tag, for log lines. */
  tag: string;
  /** The lock's key (haproxy/.locks/<kind>/<tag>). */
  key: string;
  /** Reads the lock's key to say why it was lost; takes the lock. */
  store: KVReader & KVLocker;
  /** "host:pid", stored as the lock's holder. */
  holder: string;
  /** Session TTL (ms). */
  ttlMs: number;
  lockDelayMs: number;
  /** No lock at all: always allowed to write (one pass for cron, tests of the choice alone). */
  noLock: boolean;
  /** The tag's logger (with its tag and key fields). */
  log: Logger;
  /** The plain logger, for the "holding the lock" line as it always was. */
  logger: Logger;
  /** The tag's store outage log, shared with its reads and writes. */
  outage: OutageLog;
}

export class LockKeeper {
  readonly #o: LockKeeperOptions;
  #lock: KVLock | undefined;
  /** When the lock was last taken or renewed (ms); writes stop once a renew fails. */
  #lastRenew = 0;
  #renewFailed = false;
  /** Lock operations run one at a time (the loop's renew timer and the pass share them). */
  #op: Promise<boolean> = Promise.resolve(false);
  #closed = false;

  constructor(opts: LockKeeperOptions) {
    this.#o = opts;
  }

  /** True while this checker may write: it holds the lock and its last renew succeeded. */
  get mayWrite(): boolean {
    return this.#o.noLock || (this.#lock !== undefined && !this.#renewFailed && Date.now() - this.#lastRenew < this.#o.ttlMs);
  }

  /** Take the lock, or renew it when TTL/4 has passed since the last renew; true while held. */
  keep(): Promise<boolean> {
    if (this.#o.noLock) return Promise.resolve(true);
    this.#op = this.#op.then(
      () => this.#ensure(),
      () => this.#ensure(),
    );
    return this.#op;
  }

  /** No lock is taken after this; a lock being taken meanwhile is given back at once. */
  close(): void {
    this.#closed = true;
  }

  /** Give the lock up (SIGTERM): a standby may take over at once. */
  async release(): Promise<void> {
    await this.#op.catch(() => false);
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release().catch(() => {});
  }

  async #ensure(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#lock) {
      const kept = await this.#renew(this.#lock);
      if (kept !== undefined) return kept;
    }
    return this.#take();
  }

  /** true: renewed (or fresh enough); false: the store did not answer; undefined: lost, take it again. */
  async #renew(lock: KVLock): Promise<boolean | undefined> {
    const o = this.#o;
    // TTL/4 rather than TTL/3, so the loop's TTL/3 timer renews on every tick despite timer jitter.
    if (!this.#renewFailed && Date.now() - this.#lastRenew < o.ttlMs / 4) return true;
    const started = Date.now();
    let kept: boolean;
    try {
      kept = await lock.renew();
    } catch (err) {
      // The store did not answer: the session may still be ours, but nothing is written until a renew succeeds.
      if (!this.#renewFailed) withFields(o.log, { code: 'LOCK_RENEW_FAILED', err }).warn(`${o.tag}: cannot renew the lock ${o.key} (${(err as Error).message}); not writing until it is renewed`);
      this.#renewFailed = true;
      return false;
    }
    if (kept) {
      if (this.#renewFailed) o.log.info(`${o.tag}: renewed the lock ${o.key} again`);
      this.#renewFailed = false;
      this.#lastRenew = started;
      return true;
    }
    withFields(o.log, { code: 'LOCK_LOST' }).warn(`${o.tag}: lost the lock ${o.key}: ${await this.#whyLost()}`);
    this.#lock = undefined;
    this.#renewFailed = false;
    return undefined;
  }

  async #take(): Promise<boolean> {
    const o = this.#o;
    const started = Date.now();
    try {
      this.#lock = await o.store.acquireLock(o.key, { holder: o.holder, ttlMs: o.ttlMs, lockDelayMs: o.lockDelayMs });
    } catch (err) {
      o.outage.failed(err, `cannot take the lock ${o.key} (${(err as Error).message})`);
      this.#lock = undefined;
      return false;
    }
    o.outage.ok();
    if (!this.#lock) return false;
    if (this.#closed) {
      // close() ran while the lock was being taken: give it back at once.
      await this.#lock.release().catch(() => {});
      this.#lock = undefined;
      return false;
    }
    this.#lastRenew = started;
    this.#renewFailed = false;
    o.logger.info(`${o.tag}: holding the lock ${o.key}`);
    return true;
  }

  /** What really happened to a lock whose renew failed: another holder, or a store that forgot the session. */
  async #whyLost(): Promise<string> {
    const now = await this.#o.store.get(this.#o.key).catch(() => undefined);
    if (now?.session && now.session !== this.#lock?.session) return `another checker (${now.value || 'unknown'}) holds it now and writes this tag`;
    return 'the store no longer knows its session (it expired, or the store restarted or was restored); taking it again';
  }
}
