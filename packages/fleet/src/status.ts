// Convergence you can see: each instance publishes haproxy/.status/<instance-id>, bound to a
// session (Consul) or lease (etcd) with a TTL, so a dead instance's status disappears with it.
// readFleet() compares every status with the bundle in the store.
import { withFields, type Logger } from '@confd-haproxy/base';
import { LiveKey, type KVLocker, type KVReader, type KVWriter } from '@confd-haproxy/kv';
import { parseBundle, BUNDLE_KEY, type BundleInfo } from './bundle.js';
import { ROLLOUT_KEY, type CanaryReport, type RolloutRecord } from './rollout.js';
import { rolloutFromValue } from './rollout-record.js';

import { statusKey, STATUS_PREFIX } from '@confd-haproxy/schema';

export { STATUS_PREFIX };

export interface InstanceStatus {
  id: string;
  host: string;
  pid: number;
  startedAt: string;
  /** The bundle it runs (0: its own --confdir, no bundle adopted yet). */
  version: number;
  checksum: string;
  appliedAt?: string;
  /** sha256 of each dest as rendered, by resource (conf.d/haproxy.toml). */
  dests: Record<string, string>;
  /** When a dest last changed. */
  changedAt?: string;
  /** The last pass: its time, result, and whether it reloaded. */
  last?: { at: string; ok: boolean; reloaded: boolean; error?: string };
  /** A newer bundle it refused, and why (it keeps running `version`). */
  refused?: { version: number; checksum: string; at: string; reason: string };
  /** The bundle it had adopted but did not run at this start, and why (untrusted now, changed on disk): it runs its own --confdir. */
  setAside?: { version: number; checksum: string; at: string; reason: string };
  /** Its --instance-label flags (key=value): what a push --canary label picks. */
  labels?: string[];
  /** A rollout bundle it does not take yet (not a canary, not promoted), and why. */
  waiting?: { version: number; checksum: string; since: string; reason: string };
  /** Its judgement of the rollout bundle it took last (a canary, or promoted by a wave). */
  rollout?: CanaryReport;
}

export type PublisherLogger = Logger;

/** Keeps one status key alive: written on change, its session renewed every TTL/3, gone on close. */
export class StatusPublisher {
  readonly key: string;
  readonly #live: LiveKey;

  constructor(store: KVWriter & KVLocker, id: string, opts: { ttlMs: number; logger: PublisherLogger }) {
    this.key = statusKey(id);
    this.#live = new LiveKey(store, this.key, {
      ttlMs: opts.ttlMs,
      onError: (err) => withFields(opts.logger, { code: 'STATUS_WRITE_FAILED', err }).warn(`status ${this.key}: ${(err as Error).message}`),
      onLost: () => opts.logger.debug(`status ${this.key}: session lost; publishing again`),
    });
  }

  /** Publish this status (a no-op when it is what was written last). */
  publish(status: InstanceStatus): Promise<void> {
    return this.#live.set(JSON.stringify(status));
  }

  /** Stop renewing and delete the status (a clean stop leaves the fleet at once). */
  close(): Promise<void> {
    return this.#live.close();
  }
}

export type FleetState = 'converged' | 'behind' | 'diverged' | 'failed' | 'judging' | 'waiting';

export interface FleetRow {
  id: string;
  host: string;
  version: number;
  checksum: string;
  state: FleetState;
  /** Since when it is in this state (ISO time). */
  since?: string;
  detail: string;
  status: InstanceStatus;
}

export interface FleetView {
  bundle?: BundleInfo;
  /** A bundle key that is not a bundle: its problem. */
  bundleProblem?: string;
  /** The rollout record (push --canary), and a stored one that does not parse. */
  rollout?: RolloutRecord;
  rolloutProblem?: string;
  rows: FleetRow[];
  /** Every instance runs the latest bundle, rendered alike, with its last pass ok (and there is at least one). */
  converged: boolean;
}

/** Read every status and the bundle; say who is converged, behind, diverged or failed, and since when. */
export async function readFleet(store: KVReader, signal?: AbortSignal): Promise<FleetView> {
  const opts = signal ? { signal } : {};
  const [statuses, bundlePair, rolloutPair] = await Promise.all([store.list(STATUS_PREFIX, opts), store.get(BUNDLE_KEY, opts), store.get(ROLLOUT_KEY, opts)]);
  const { record: rollout, problem: rolloutProblem } = rolloutFromValue(rolloutPair?.value);
  let bundle: BundleInfo | undefined;
  let bundleProblem: string | undefined;
  if (bundlePair) {
    try {
      const { files: _files, ...info } = parseBundle(bundlePair.value);
      bundle = info;
    } catch (err) {
      bundleProblem = (err as Error).message;
    }
  }
  const all: InstanceStatus[] = [];
  for (const p of statuses.pairs) {
    try {
      const s = JSON.parse(p.value) as InstanceStatus;
      if (s && typeof s.id === 'string' && Number.isInteger(s.version)) all.push({ ...s, dests: s.dests ?? {} });
    } catch {
      // not a status: ignored (someone else's key under the prefix)
    }
  }
  // The usual rendering of each resource among the instances on the latest bundle.
  const latest = all.filter((s) => !bundle || s.checksum === bundle.checksum);
  const usual = new Map<string, string>();
  for (const name of new Set(latest.flatMap((s) => Object.keys(s.dests)))) {
    const counts = new Map<string, number>();
    for (const s of latest) if (s.dests[name]) counts.set(s.dests[name]!, (counts.get(s.dests[name]!) ?? 0) + 1);
    usual.set(name, [...counts].sort((a, b) => b[1] - a[1])[0]![0]);
  }
  const rows = all
    .sort((a, b) => a.host.localeCompare(b.host) || a.id.localeCompare(b.id))
    .map((s): FleetRow => {
      const base = { id: s.id, host: s.host, version: s.version, checksum: s.checksum, status: s };
      if (s.refused && bundle && s.refused.checksum === bundle.checksum) {
        return { ...base, state: 'failed', since: s.refused.at, detail: `refused: ${s.refused.reason}; version ${s.refused.version} not adopted, runs version ${s.version}` };
      }
      const report = bundle && s.rollout?.checksum === bundle.checksum ? s.rollout : undefined;
      if (report?.state === 'judging') return { ...base, state: 'judging', since: s.appliedAt ?? s.startedAt, detail: `${report.role}: judging version ${report.version} until ${report.until}` };
      if (bundle && s.waiting?.checksum === bundle.checksum && s.checksum !== bundle.checksum) return { ...base, state: 'waiting', since: s.waiting.since, detail: `${s.waiting.reason}; runs version ${s.version}` };
      if (s.setAside) return { ...base, state: 'failed', since: s.setAside.at, detail: `set aside version ${s.setAside.version} at start: ${s.setAside.reason}; runs its own --confdir` };
      if (s.last && !s.last.ok) return { ...base, state: 'failed', since: s.last.at, detail: `last pass failed: ${s.last.error ?? 'unknown error'}` };
      if (bundle && s.checksum !== bundle.checksum) return { ...base, state: 'behind', since: bundle.pushedAt, detail: `runs version ${s.version}, latest is ${bundle.version}` };
      const odd = Object.entries(s.dests).filter(([name, sum]) => usual.get(name) !== sum).map(([name]) => name);
      if (odd.length) return { ...base, state: 'diverged', ...(s.changedAt ? { since: s.changedAt } : {}), detail: `${odd.join(', ')} rendered differently from the others on version ${s.version}` };
      return { ...base, state: 'converged', ...(s.appliedAt ?? s.startedAt ? { since: s.appliedAt ?? s.startedAt } : {}), detail: report?.state === 'passed' ? `${report.role}: judged passed` : '' };
    });
  const converged = !bundleProblem && rows.length > 0 && rows.every((r) => r.state === 'converged');
  return { ...(bundle ? { bundle } : {}), ...(bundleProblem ? { bundleProblem } : {}), ...(rollout ? { rollout } : {}), ...(rolloutProblem ? { rolloutProblem } : {}), rows, converged };
}

/** The table `status --fleet` prints. */
export function fleetTable(view: FleetView): string {
  const head = view.bundle
    ? `bundle version ${view.bundle.version} (${view.bundle.checksum.slice(0, 12)}) pushed by ${view.bundle.host} (${view.bundle.pushedBy.slice(0, 8)}) at ${view.bundle.pushedAt}${view.bundle.environment ? ` for environment ${view.bundle.environment}` : ''}, ${view.bundle.signature ? `signed by key ${view.bundle.signature.keyId.slice(0, 12)}` : 'unsigned'}`
    : view.bundleProblem
      ? `bundle: ${view.bundleProblem}`
      : 'no bundle pushed: instances run their own --confdir';
  const rows = view.rows.map((r) => [r.id.slice(0, 8), r.host, String(r.version), r.checksum.slice(0, 12) || '-', r.state, r.since ?? '-', r.detail]);
  const all = [['INSTANCE', 'HOST', 'VERSION', 'CHECKSUM', 'STATE', 'SINCE', 'DETAIL'], ...rows];
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const lines = all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
  const summary = view.rows.length === 0 ? 'no instance publishes a status' : view.converged ? `${view.rows.length} instance(s), converged` : `${view.rows.filter((r) => r.state === 'converged').length} of ${view.rows.length} instance(s) converged`;
  const rollout = rolloutLine(view);
  return `${head}\n${rollout ? `${rollout}\n` : ''}${lines.join('\n')}\n${summary}\n`;
}

/** The rollout of the latest bundle in one line (none without push --canary). */
function rolloutLine(view: FleetView): string | undefined {
  if (view.rolloutProblem) return `rollout: ${view.rolloutProblem}`;
  const r = view.rollout;
  if (!r || !view.bundle?.rollout || r.checksum !== view.bundle.checksum) return view.bundle?.rollout ? `rollout of version ${view.bundle.version}: canary (no record yet)` : undefined;
  const what = r.stage === 'failed' ? `failed: ${r.reason ?? ''}` : r.stage === 'wave' ? `wave ${r.wave} (${r.ids?.length ?? 0} instance(s))` : r.stage;
  return `rollout of version ${r.version}: ${what} (since ${r.at}${r.signature ? `, signed by key ${r.signature.keyId.slice(0, 12)}` : ', unsigned'})`;
}
