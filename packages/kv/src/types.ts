/**
 * The store seam. Checkers write through it, the renderer reads through it, and nothing above
 * it knows which backend answers. Keys never start with "/" here; callers that speak confd's
 * "/haproxy/..." form strip the slash before they call.
 */

/** A store's change counter: grows with every write; 0 means "nothing seen yet". */
export type KVIndex = number;

export interface KVPair {
  key: string;
  value: string;
  /** Index of the write that last changed this key; pass it as `cas` to update only this version. */
  modifyIndex: KVIndex;
  createIndex: KVIndex;
  flags: number;
  /** The lock session holding this key, when it is locked. */
  session?: string;
}

export interface KVSnapshot {
  /** Highest index under the prefix (deletes included); never below 1. */
  index: KVIndex;
  /** Every key under the prefix, sorted by key. */
  pairs: KVPair[];
  /** False when the answering server had no known leader: the data may be stale. */
  knownLeader: boolean;
}

/** The order of a snapshot's pairs: by key. */
export const byKey = (a: KVPair, b: KVPair): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export interface KVReadOptions {
  signal?: AbortSignal;
}

export interface KVWatchOptions {
  signal: AbortSignal;
  /** How long the store may hold the request when nothing changes (ms). Default DEFAULT_WATCH_WAIT_MS. */
  waitMs?: number;
}

/** How long a watch (of keys or of the catalog) may be held when the caller gives no waitMs: 60 s on every backend. */
export const DEFAULT_WATCH_WAIT_MS = 60_000;

export interface KVPutOptions {
  /** 0: only if the key is absent; n: only if the key's modifyIndex is n. */
  cas?: KVIndex;
  flags?: number;
  signal?: AbortSignal;
}

export interface KVDeleteOptions {
  cas?: KVIndex;
  signal?: AbortSignal;
}

export interface KVLockOptions {
  /** Who holds it, stored as the lock key's value (e.g. "db-check-1:4711"). */
  holder: string;
  /** Session TTL in ms: the lock is lost this long (up to 2x in Consul) after the last renew. Default DEFAULT_LOCK_TTL_MS. */
  ttlMs?: number;
  /** After a holder dies, nobody else may take the lock for this long (ms). Default DEFAULT_LOCK_DELAY_MS. */
  lockDelayMs?: number;
  /**
   * What happens to the key when the session ends (expiry or release): `release` (default) keeps
   * it, unlocked, as a lock; `delete` removes it, for keys that live only as long as their writer
   * (an instance's status).
   */
  behavior?: 'release' | 'delete';
  signal?: AbortSignal;
}

/** A lock's TTL and lock-delay when the caller gives none: 15 s each on every backend. */
export const DEFAULT_LOCK_TTL_MS = 15_000;
export const DEFAULT_LOCK_DELAY_MS = 15_000;

export interface KVLock {
  readonly key: string;
  /** The session (Consul) or lease id that holds the key. */
  readonly session: string;
  readonly holder: string;
  /** Extend the lock; false when it was lost (expired, or taken after expiry). */
  renew(): Promise<boolean>;
  /** Write a new value to the held key; false when the lock was lost (nothing is written then). */
  update(value: string): Promise<boolean>;
  /** Give the lock up; other clients may take it at once (no lock-delay). */
  release(): Promise<void>;
}

// One capability per interface: a consumer takes the narrowest one it uses (the renderer reads and
// watches; a checker reads, writes and locks), so a read-only backend needs only KVReader & KVWatcher.

/** Point reads and prefix reads. */
export interface KVReader {
  /** Every key under prefix ("" = all), sorted. */
  list(prefix: string, opts?: KVReadOptions): Promise<KVSnapshot>;
  /** One key, or undefined when absent. */
  get(key: string, opts?: KVReadOptions): Promise<KVPair | undefined>;
}

/** Blocking reads of a prefix. */
export interface KVWatcher {
  /**
   * Answer once the prefix's index is above `since`, or when waitMs runs out (same data back).
   * `since` of 0 answers at once. An index that went backwards yields a fresh read, so callers
   * simply continue from the index they get; they must compare data, not just wake up.
   */
  watch(prefix: string, since: KVIndex, opts: KVWatchOptions): Promise<KVSnapshot>;
}

/** Writes, with compare-and-set on a key's modifyIndex. */
export interface KVWriter {
  /** True when written; false when a `cas` did not match. */
  put(key: string, value: string, opts?: KVPutOptions): Promise<boolean>;
  /** True when deleted (or already absent without cas); false when a `cas` did not match. */
  delete(key: string, opts?: KVDeleteOptions): Promise<boolean>;
}

/** Locks held by a session (Consul) or a lease (etcd) that ends unless renewed. */
export interface KVLocker {
  /** Take the lock on key, or undefined when another holder has it (or lock-delay is running). */
  acquireLock(key: string, opts: KVLockOptions): Promise<KVLock | undefined>;
}

/** What a store says about itself: its backend, a name for logs and, when it has one, its service catalog. */
export interface KVInfo {
  /** The backend, as --backend names it ("consul", "etcd", "file"); a checker's "in consul is ok" line says it. */
  readonly backend: string;
  /** A name for logs: "consul 127.0.0.1:8500", "file ./kv.json". Never holds a token. */
  readonly describe: string;
  /** Services and their health, for a store that has a service catalog (Consul). */
  readonly catalog?: CatalogReader;
}

/** Every capability: what openStore returns and what a backend implements. */
export interface KVStore extends KVInfo, KVReader, KVWatcher, KVWriter, KVLocker {
  close(): Promise<void>;
}

// The service catalog seam (catalog.ts holds its helpers): a read-only view of services and their health.

/** Consul's check statuses as consul-template aggregates them (maintenance counts as critical). */
export type ServiceStatus = 'passing' | 'warning' | 'critical';

/** One instance of a service, with its node and its aggregated health. */
export interface ServiceInstance {
  node: string;
  nodeId: string;
  nodeAddress: string;
  nodeDatacenter: string;
  nodeMeta: Record<string, string>;
  /** The service's own address, or its node's when it has none (as consul-template). */
  address: string;
  id: string;
  name: string;
  /** Sorted. */
  tags: string[];
  meta: Record<string, string>;
  port: number;
  /** The worst of the instance's checks and its node's; passing when it has none. */
  status: ServiceStatus;
  weights: { passing: number; warning: number };
}

/** "web", "primary.web", "web@dc2" as consul-template's `service` takes it. */
export interface ServiceQuery {
  name: string;
  tag?: string;
  dc?: string;
}

export interface HealthReadOptions extends KVReadOptions {
  /**
   * Which statuses to answer: "passing" (default: healthy instances only, filtered by the
   * server), a list such as ["passing", "warning"], or "any".
   */
  status?: 'passing' | 'any' | readonly ServiceStatus[];
}

export interface HealthSnapshot {
  /** X-Consul-Index of the answer; never below 1. */
  index: KVIndex;
  /** Sorted by node, then ID (as consul-template). */
  instances: ServiceInstance[];
  knownLeader: boolean;
}

export interface ServicesSnapshot {
  index: KVIndex;
  /** Service name → its tags (every instance's, once each, sorted); names sorted. */
  services: Record<string, string[]>;
  knownLeader: boolean;
}

export interface CatalogReader {
  health(query: ServiceQuery, opts?: HealthReadOptions): Promise<HealthSnapshot>;
  /** Answer once the service's index is above `since` or waitMs ran out; `since` 0 answers at once. */
  watchHealth(query: ServiceQuery, since: KVIndex, opts: KVWatchOptions & Pick<HealthReadOptions, 'status'>): Promise<HealthSnapshot>;
  services(opts?: KVReadOptions & { dc?: string }): Promise<ServicesSnapshot>;
  watchServices(since: KVIndex, opts: KVWatchOptions & { dc?: string }): Promise<ServicesSnapshot>;
}
