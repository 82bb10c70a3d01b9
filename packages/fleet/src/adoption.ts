// The two counters behind an adoption: how often a new bundle was read (ProxySQL's
// diffs_before_sync), and how long a refused bundle waits before it is tried again.
import { createHash } from 'node:crypto';
import { isKVError } from '@confd-haproxy/kv';
import type { BundleInfo } from './bundle.js';

/** What tells one bundle from another: every signed field and the signature (the files are in the checksum). */
export type BundleId = Pick<BundleInfo, 'version' | 'checksum'> & Partial<BundleInfo>;

/**
 * One bundle's identity as a key: two bundles with the same files and version but another
 * signature (a broken copy of a good push) are two bundles.
 */
export function bundleKey(b: BundleId): string {
  const sig = b.signature;
  const fields = [b.version, b.checksum, b.pushedBy ?? '', b.host ?? '', b.pushedAt ?? '', b.environment ?? '', sig?.alg ?? '', sig?.keyId ?? '', sig?.sig ?? ''];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/** A new bundle is ready once it was read `needed` times in a row; any other bundle read in between starts the count again. */
export class Candidate {
  readonly needed: number;
  #current: { key: string; reads: number } | undefined;

  constructor(needed: number) {
    this.needed = Math.max(1, needed);
  }

  /** A bundle is being counted: the next read comes after the check interval, not from a watch. */
  get pending(): boolean {
    return this.#current !== undefined;
  }

  /** Count one read of b; true when it is the needed-th read in a row (and the count is done). */
  read(b: BundleId): boolean {
    const key = bundleKey(b);
    if (this.#current?.key === key) this.#current.reads++;
    else this.#current = { key, reads: 1 };
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

/** How many refused bundles are remembered (a store writer can make up any number of them). */
const REMEMBERED = 64;

/**
 * A refused bundle waits firstMs before it is tried again, twice as long after each further
 * refusal of it, at most 30 min. Each distinct bundle has its own wait: a broken copy of a push
 * never holds back the push itself.
 */
export class RefusalBackoff {
  readonly firstMs: number;
  readonly #refused = new Map<string, { refusals: number; retryAt: number }>();
  #retryAt = 0;

  constructor(firstMs: number) {
    this.firstMs = firstMs;
  }

  /** When the bundle refused last may be tried again (ms since the epoch); 0 before any refusal. */
  get retryAt(): number {
    return this.#retryAt;
  }

  /** Record a refusal of b at `now`; the time it may be tried again. */
  refuse(b: BundleId, now: number): number {
    const key = bundleKey(b);
    const refusals = (this.#refused.get(key)?.refusals ?? 0) + 1;
    this.#retryAt = now + Math.min(MAX_RETRY_MS, this.firstMs * 2 ** (refusals - 1));
    this.#refused.delete(key); // re-inserted last: the oldest refusal is the first forgotten
    this.#refused.set(key, { refusals, retryAt: this.#retryAt });
    if (this.#refused.size > REMEMBERED) this.#refused.delete(this.#refused.keys().next().value!);
    return this.#retryAt;
  }

  /** A bundle was adopted: no refusal stands any more. */
  clear(): void {
    this.#refused.clear();
  }

  /** b was never refused, or its retry time has come. */
  mayTry(b: BundleId, now: number): boolean {
    return now >= (this.#refused.get(bundleKey(b))?.retryAt ?? 0);
  }

  /** How long a watch may wait at `now` (at most maxMs) while the store holds b: b's retry time, when it was refused, ends it early. */
  waitMs(b: BundleId | undefined, now: number, maxMs: number): number {
    const refused = b && this.#refused.get(bundleKey(b));
    return refused ? Math.min(maxMs, Math.max(100, refused.retryAt - now)) : maxMs;
  }
}

/** Store errors that say the store failed, not the bundle: the connection or the server. */
const STORE_FAILURES: ReadonlySet<string> = new Set(['KV_UNREACHABLE', 'KV_SERVER']);

/**
 * The store failure behind a failed pass, when the store is all that failed (undefined: something
 * the bundle caused failed too, so the bundle is refused for that). A pass whose data read failed
 * judged nothing about the bundle: it is tried again soon, not refused.
 */
export function storeFailure(errors: readonly Error[]): Error | undefined {
  const isStore = (e: Error) => isKVError(e) && STORE_FAILURES.has(e.code);
  return errors.length > 0 && errors.every(isStore) ? errors[0] : undefined;
}
