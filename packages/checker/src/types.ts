// The checker's shapes: what a kind implements (CheckerKind), what a TagChecker is given
// (TagCheckerOptions) and what a pass answers (PassReport). Imports nothing that imports it.
import type { Logger } from '@confd-haproxy/base';
import type { KVInfo, KVLocker, KVReader, KVWriter } from '@confd-haproxy/kv';
import type { Entry, EntryBody } from '@confd-haproxy/schema';
import type { HeartbeatOutcome } from './heartbeat.js';

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

/** What a kind's probe answers: ok or why not, and what it learned, which `choose` receives. */
export interface ProbeOutcome<P = unknown> {
  ok: boolean;
  reason?: string;
  /** The probe's findings (a ROLE answer, a node's status), failed or not; none leaves the target's previous ones. */
  data?: P;
}

/** This pass's probe data by "host:port"; a re-probe replaces its target's. */
export type ProbeData<P> = ReadonlyMap<string, P>;

export type CheckerLogger = Logger;

/** What a kind's targets found: the candidates, and what finding them learned (a Sentinel's answer), which choose receives. */
export interface FoundTargets<T extends Target, C> {
  targets: T[];
  context: C;
}

/** What a kind's choose answers when it has more to say than the entry; the pass's report carries it. */
export interface Choice<D = unknown> {
  /** The entry for this pass; none keeps the stored one. */
  entry?: EntryBody;
  /** Why there is no entry, or a warning beside it ("split-brain: ..."). */
  problem?: string;
  /** What the choice was made from (a cluster's roles, the master named), for whoever reads the report. */
  detail?: D;
}

/** What choose decides from: the eligible targets (in target order), the stored entry, every target, this pass's probes, the targets' context (none when they came alone). */
export interface ChooseInput<T extends Target = Target, P = unknown, C = unknown> {
  eligible: T[];
  current: Entry | undefined;
  all: T[];
  probed: ProbeData<P>;
  context: C | undefined;
}

/**
 * What a kind of checker says: how to find targets, how to probe one, how to choose. P: what a
 * probe learns; C: what finding the targets learned (optional); D: the detail of a Choice (optional).
 */
export interface CheckerKind<T extends Target = Target, P = unknown, C = unknown, D = unknown> {
  /** The key segment: haproxy/<kind>/<tag>. */
  readonly kind: string;
  /** The candidates of this pass, alone or with what finding them learned; the signal fires after the probe timeout. */
  targets(signal: AbortSignal): Promise<T[] | FoundTargets<T, C>>;
  /** One check; the signal fires at the deadline and the probe must then let go of its socket. */
  probe(target: T, signal: AbortSignal): Promise<ProbeOutcome<P>>;
  /** This pass's Choice: the entry (none keeps the stored one), and why and on what. */
  choose(input: ChooseInput<T, P, C>): Choice<D>;
  /** Original-style log line when the stored entry is kept; backend: the store's ("consul"). */
  okLine?(entry: Entry, backend: string): string;
  /** Original-style log line when a new entry is written. */
  changedLine?(entry: Entry, previous: Entry | undefined): string;
  /**
   * Called once by the loop: the kind tells `lost` when the kept connection to a target closes or
   * resets between probes (a kill, a crash, a restart), so that target is probed again at once.
   */
  onConnectionLost?(lost: (target: Target, reason: string) => void): void;
  /**
   * A cheap request on the kept connection to the active server (memcached `version`, Redis PING,
   * MySQL COM_PING), between passes; the signal fires at the probe deadline. A failure counts as a
   * failed probe and the entry is decided at once. See heartbeat.ts.
   */
  heartbeat?(target: T, signal: AbortSignal): Promise<HeartbeatOutcome>;
  close?(): Promise<void>;
}

export interface TagCheckerOptions<T extends Target, P = unknown, C = unknown, D = unknown> {
  tag: string;
  kind: CheckerKind<T, P, C, D>;
  /** A checker reads its entry, writes it with CAS and holds a lock: it never lists or watches. */
  store: KVReader & KVWriter & KVLocker & KVInfo;
  logger: CheckerLogger;
  /** "host:pid": stored in entries and as the lock's holder. */
  checker: string;
  /** Deadline of one probe, connect and query together (ms). */
  timeoutMs: number;
  /** Successes in a row before a failed target is eligible again. */
  retryUp: number;
  /** Failures in a row before an eligible target is dropped. */
  retryDown: number;
  /** Session TTL of the cluster lock (ms); renewed every TTL/3. */
  lockTtlMs: number;
  /**
   * After a holder's session expires, nobody may take the lock for this long (ms). Default 0:
   * a holder stops writing as soon as a renew fails, well before its session can expire.
   */
  lockDelayMs?: number;
  /** Key prefix (the renderer's --prefix): the entry is <prefix>/haproxy/<kind>/<tag>. */
  prefix?: string;
  /**
   * Period of the heartbeat to the active server while run() loops (ms); 0 or absent: none. Its
   * deadline is timeoutMs, so a server slower than a probe allows fails it, and none faster.
   */
  heartbeatMs?: number;
  /** Skip the cluster lock (one pass for cron, or tests of the choice alone). */
  noLock?: boolean;
  now?: () => Date;
}

export interface PassReport<T extends Target = Target, D = unknown> {
  tag: string;
  key: string;
  /** Every probe of this pass, in target order. */
  results: { target: T; result: ProbeResult }[];
  /** Targets whose probe succeeded in this pass. */
  healthy: T[];
  /** Targets that may serve after retry-up / retry-down. */
  eligible: T[];
  /** The server the stored entry points at after this pass. */
  chosen: Target | undefined;
  /** The stored entry after this pass. */
  entry: Entry | undefined;
  /** What the kind's choose answered; absent when it was not asked (the targets or the stored entry could not be read). */
  choice?: Choice<D>;
  wrote: boolean;
  holder: boolean;
  reason: string;
  /** What started it: the interval, a kept connection that closed (one target re-probed), or the active server's failed heartbeat. */
  trigger: 'interval' | 'connection-lost' | 'heartbeat';
}
