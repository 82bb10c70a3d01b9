// A key that lives as long as its writer: held on a session (Consul) or lease (etcd) with behavior
// 'delete', written when its value changes, renewed every TTL/3, taken again when the store lost
// the session, deleted on close. A fleet instance's status and a checker's member key are such keys.
import type { KVLock, KVLocker, KVWriter } from './types.js';

export interface LiveKeyOptions {
  /** Session TTL (ms): the key goes this long (up to 2x in Consul) after its writer stops renewing. */
  ttlMs: number;
  /** The renew period never goes below this (ms). Default 200. */
  minPeriodMs?: number;
  /** Told of every failed write or renew; the next renew tries again. */
  onError(err: unknown): void;
  /** Told when a renew found the session gone (the key is then written again at once). */
  onLost?(): void;
  /** Told after each write or renew that left the key held. */
  onHeld?(): void;
}

export class LiveKey {
  readonly key: string;
  readonly #store: KVWriter & KVLocker;
  readonly #o: LiveKeyOptions;
  #lock: KVLock | undefined;
  #value = '';
  #written = '';
  readonly #timer: NodeJS.Timeout;
  /** Writes and renews run one at a time. */
  #op: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(store: KVWriter & KVLocker, key: string, o: LiveKeyOptions) {
    this.#store = store;
    this.key = key;
    this.#o = o;
    this.#timer = setInterval(() => void this.#serial(() => this.#renew()), Math.max(o.minPeriodMs ?? 200, Math.floor(o.ttlMs / 3)));
    this.#timer.unref();
  }

  /** Write this value (a no-op when it is what was written last); resolves once tried. */
  set(value: string): Promise<void> {
    this.#value = value;
    return this.#serial(() => this.#write());
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const run = async () => {
      await fn();
      if (this.#lock && !this.#closed) this.#o.onHeld?.();
    };
    this.#op = this.#op.then(run, run).catch((err: unknown) => this.#o.onError(err));
    return this.#op;
  }

  // Each write captures the value first: a set() during the await queues its own write.
  async #acquire(value: string): Promise<void> {
    const opts = { holder: value, ttlMs: this.#o.ttlMs, lockDelayMs: 0, behavior: 'delete' as const };
    let lock = await this.#store.acquireLock(this.key, opts);
    if (!lock) {
      // Our own key, held by the session of a previous life of this writer (same id): take it back.
      await this.#store.delete(this.key);
      lock = await this.#store.acquireLock(this.key, opts);
    }
    if (this.#closed) {
      await lock?.release().catch(() => {});
      return;
    }
    this.#lock = lock;
    if (lock) this.#written = value;
  }

  async #write(): Promise<void> {
    const value = this.#value;
    if (this.#closed || !value || value === this.#written) return;
    if (!this.#lock) return this.#acquire(value);
    if (await this.#lock.update(value)) this.#written = value;
    else {
      this.#lock = undefined;
      this.#written = '';
      await this.#acquire(value);
    }
  }

  async #renew(): Promise<void> {
    if (this.#closed) return;
    if (this.#lock && !(await this.#lock.renew())) {
      this.#o.onLost?.();
      this.#lock = undefined;
      this.#written = '';
    }
    await this.#write();
  }

  /** Stop renewing and delete the key (its session ends): readers see the writer gone at once. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closed = true;
    await this.#op;
    await this.#lock?.release().catch(() => {});
    this.#lock = undefined;
  }
}
