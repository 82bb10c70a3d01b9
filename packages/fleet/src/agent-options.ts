// What a fleet agent is given (FleetOptions, its clock) and what it tells of each bundle (BundleEvent).
import type { KVInfo, KVLocker, KVReader, KVWatcher, KVWriter } from '@confd-haproxy/kv';
import type { RendererOptions } from '@confd-haproxy/renderer';
import type { TrustedKey } from './types.js';

/**
 * Why a bundle was refused: not signed by a trusted key, pushed for another environment, not newer
 * than the trusted one running (a replay), against local policy, or its pass failed.
 */
export type RefusalKind = 'untrusted' | 'foreign' | 'stale' | 'not allowed' | 'failed' | 'judged';

/** Every adoption or refusal of a bundle, as the agent reports it (tests, logs, metrics). */
export interface BundleEvent {
  version: number;
  adopted: boolean;
  reason?: string;
  refusal?: RefusalKind;
  rendered: boolean;
}

export interface FleetOptions extends Omit<RendererOptions, 'confdir' | 'destDir' | 'bundle'> {
  /** Renders from it (read, watch), and publishes its status under a lock (write, lock). */
  store: KVReader & KVWatcher & KVWriter & KVLocker & KVInfo;
  /** Holds the instance id, the adopted bundles and fleet.json. */
  stateDir: string;
  /** The instance's own conf.d/templates until a bundle is adopted; relative dests resolve here. */
  confdir: string;
  /** Reads of the same new version before it is adopted (ProxySQL's diffs_before_sync). */
  diffsBeforeSync?: number;
  /** Time between those reads (ms). */
  checkIntervalMs?: number;
  /** TTL of the status session (ms; Consul's minimum is 10 s). */
  statusTtlMs?: number;
  /** First wait before a refused bundle is tried again (ms, doubling up to 30 min; default 1 min). */
  retryRefusedMs?: number;
  /** Public keys (--trust-key): when given, only a bundle signed by one of them, with a version above the running one, is adopted. */
  trustKeys?: readonly TrustedKey[];
  /** The environment this instance is for (--environment): only bundles pushed for it are adopted (none: only bundles pushed for none). */
  environment?: string;
  /** This instance's --instance-label flags (key=value): push --canary LABEL picks by them. */
  labels?: readonly string[];
  /** HAProxy's stats socket (--stats-socket): what a rollout bundle is judged by. */
  statsSocket?: string;
  onBundle?: (e: BundleEvent) => void;
}

/** Where the agent reads the time (tests pass their own clock). */
export interface FleetClock {
  now(): number;
}
