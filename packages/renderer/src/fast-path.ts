// The fast-path rule of -watch: a change within a burst (one the leading edge did not render) is
// also tried at once as a runtime-only pass, so a failover that only moves servers reaches the
// runtime API without waiting for the quiet period. A pure policy over the times it is given.

/**
 * At most one runtime-only pass queued; after one that found reload work (resources it deferred),
 * the changes of the next minMs are left to the full pass: a burst is not rendered twice each.
 */
export class FastPathPolicy {
  readonly #minMs: number;
  #queued = false;
  #deferredAt = -Infinity;

  constructor(minMs: number) {
    this.#minMs = minMs;
  }

  /** A change the leading edge did not render, at `now`: true when a runtime-only pass is to be queued for it (it counts as queued). */
  take(now: number): boolean {
    if (this.#queued || now - this.#deferredAt < this.#minMs) return false;
    this.#queued = true;
    return true;
  }

  /** The queued pass starts: a change from now on may queue the next one. */
  started(): void {
    this.#queued = false;
  }

  /** The pass ended at `now`; `deferred`: it left resources to the full pass (they need a reload). */
  finished(now: number, deferred: boolean): void {
    if (deferred) this.#deferredAt = now;
  }
}
