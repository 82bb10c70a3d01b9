// The two counters behind an adoption: how often a new bundle was read (ProxySQL's
// diffs_before_sync), and how long a refused bundle waits before it is tried again.

/** What tells one bundle from another. */
export interface BundleId {
  version: number;
  checksum: string;
}

export const sameBundle = (a: BundleId, b: BundleId | undefined): boolean => b?.version === a.version && b.checksum === a.checksum;

/** A new bundle is ready once it was read `needed` times in a row; any other bundle read in between starts the count again. */
export class Candidate {
  readonly needed: number;
  #current: (BundleId & { reads: number }) | undefined;

  constructor(needed: number) {
    this.needed = Math.max(1, needed);
  }

  /** A bundle is being counted: the next read comes after the check interval, not from a watch. */
  get pending(): boolean {
    return this.#current !== undefined;
  }

  /** Count one read of b; true when it is the needed-th read in a row (and the count is done). */
  read(b: BundleId): boolean {
    if (this.#current && sameBundle(b, this.#current)) this.#current.reads++;
    else this.#current = { version: b.version, checksum: b.checksum, reads: 1 };
    if (this.#current.reads < this.needed) return false;
    this.#current = undefined;
    return true;
  }

  forget(): void {
    this.#current = undefined;
  }
}

/** Longest wait before a refused bundle is tried again. */
export const MAX_RETRY_MS = 30 * 60_000;

/** A refused bundle waits firstMs before it is tried again, twice as long after each further refusal of it, at most 30 min. */
export class RefusalBackoff {
  readonly firstMs: number;
  #refused: BundleId | undefined;
  #refusals = 0;
  #retryAt = 0;

  constructor(firstMs: number) {
    this.firstMs = firstMs;
  }

  /** When the refused bundle may be tried again (ms since the epoch); 0 before any refusal. */
  get retryAt(): number {
    return this.#retryAt;
  }

  /** Record a refusal of b at `now`; the time it may be tried again. */
  refuse(b: BundleId, now: number): number {
    this.#refusals = sameBundle(b, this.#refused) ? this.#refusals + 1 : 1;
    this.#refused = { version: b.version, checksum: b.checksum };
    this.#retryAt = now + Math.min(MAX_RETRY_MS, this.firstMs * 2 ** (this.#refusals - 1));
    return this.#retryAt;
  }

  /** A bundle was adopted: no refusal stands any more. */
  clear(): void {
    this.#refused = undefined;
  }

  /** b is not the refused bundle, or its retry time has come. */
  mayTry(b: BundleId, now: number): boolean {
    return !sameBundle(b, this.#refused) || now >= this.#retryAt;
  }

  /** How long a watch may wait at `now` (at most maxMs): a refused bundle's retry time ends it early. */
  waitMs(now: number, maxMs: number): number {
    return this.#refused ? Math.min(maxMs, Math.max(100, this.#retryAt - now)) : maxMs;
  }
}
