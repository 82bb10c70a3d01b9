// A renderer that takes its configuration from the store (--config-from-store). It renders with
// the bundle it runs, watches haproxy/.config/bundle, and adopts a newer version only after it
// read the same version diffsBeforeSync times in a row, and only if a pass with it loads, renders
// and passes every check_cmd; otherwise it keeps the running version and says why in its status.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { backoffDelay, sleep, type KVInfo, type KVLocker, type KVReader, type KVWatcher, type KVWriter } from '@confd-haproxy/kv';
import { Renderer, runWatch, type PassResult, type RendererOptions } from '@confd-haproxy/renderer';
import { loadResources, policyProblems, ResourceError, type LocalPolicy } from '@confd-haproxy/resource';
import { bundleDir, materializeBundle, parseBundle, readApplied, writeApplied, BUNDLE_KEY, CONFIG_PREFIX, type Applied, type Bundle } from './bundle.js';
import { instanceId } from './identity.js';
import { StatusPublisher, type InstanceStatus } from './status.js';
import { untrustedReason, type TrustedKey } from './trust.js';

/** Why a bundle was refused: not signed by a trusted key, against local policy, or its pass failed. */
export type RefusalKind = 'untrusted' | 'not allowed' | 'failed';

/** Every adoption or refusal of a bundle, as the agent reports it (tests, logs, metrics). */
export interface BundleEvent {
  version: number;
  adopted: boolean;
  reason?: string;
  refusal?: RefusalKind;
  rendered: boolean;
}

export interface FleetOptions extends Omit<RendererOptions, 'confdir' | 'destDir'> {
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
  /** Public keys (--trust-key): when given, only a bundle signed by one of them is adopted. */
  trustKeys?: readonly TrustedKey[];
  onBundle?: (e: BundleEvent) => void;
}

const sha = (path: string) => {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return '';
  }
};

export async function runFleet(opts: FleetOptions): Promise<void> {
  const log = opts.logger;
  const id = instanceId(opts.stateDir);
  const diffs = Math.max(1, opts.diffsBeforeSync ?? 3);
  const checkMs = opts.checkIntervalMs ?? 200;
  let applied: Applied | undefined = readApplied(opts.stateDir);
  // What a restart continues with counts as adopted (metrics show the running version at once).
  if (applied) opts.onBundle?.({ version: applied.version, adopted: true, rendered: false });
  const trust = opts.trustKeys ?? [];
  const policy: LocalPolicy = opts.policy ?? { allowCommands: [], allowDests: [] };
  if (!trust.length) log.warn(`no --trust-key: any principal that can write ${BUNDLE_KEY} can change the commands this instance runs`);
  const status: InstanceStatus = {
    id,
    host: hostname(),
    pid: process.pid,
    startedAt: new Date().toISOString(),
    version: applied?.version ?? 0,
    checksum: applied?.checksum ?? '',
    ...(applied ? { appliedAt: applied.appliedAt } : {}),
    dests: {},
  };
  const publisher = new StatusPublisher(opts.store, id, { ttlMs: opts.statusTtlMs ?? 15_000, logger: log });
  const publish = () => void publisher.publish({ ...status });
  const recordPass = (p: PassResult) => {
    let changed = false;
    for (const r of p.resources) {
      const sum = sha(r.dest);
      if (sum && status.dests[r.resource] !== sum) {
        status.dests[r.resource] = sum;
        changed = true;
      }
    }
    if (changed) status.changedAt = new Date().toISOString();
    status.last = { at: new Date().toISOString(), ok: p.ok, reloaded: p.reloads.some((x) => x.ok), ...(p.ok ? {} : { error: p.errors[0]?.message.split('\n')[0] ?? 'failed' }) };
    publish();
  };
  const confdirOf = () => applied?.dir ?? opts.confdir;
  const rendererOpts = (signal: AbortSignal): RendererOptions => ({
    ...opts,
    confdir: confdirOf(),
    destDir: opts.confdir,
    signal,
    onPass: (p) => {
      recordPass(p);
      opts.onPass?.(p);
    },
  });

  // The data watcher runs with the current bundle; switching bundles restarts it.
  let watchAc = new AbortController();
  let watching: Promise<void> = Promise.resolve();
  const startWatch = () => {
    watchAc = new AbortController();
    watching = runWatch(rendererOpts(AbortSignal.any([opts.signal, watchAc.signal]))).catch((err: unknown) => log.error(`renderer: ${(err as Error).message}`));
  };
  const stopWatch = async () => {
    watchAc.abort();
    await watching;
  };

  // A refused bundle is tried again after a back-off (the reason may pass: a store outage, a slow check).
  let refusals = 0;
  let retryAt = 0;
  const sameBundle = (b: Bundle, r: { version: number; checksum: string } | undefined) => r?.version === b.version && r.checksum === b.checksum;
  const refuse = (b: Bundle, reason: string, refusal: RefusalKind = 'failed') => {
    refusals = sameBundle(b, status.refused) ? refusals + 1 : 1;
    retryAt = Date.now() + Math.min(30 * 60_000, (opts.retryRefusedMs ?? 60_000) * 2 ** (refusals - 1));
    status.refused = { version: b.version, checksum: b.checksum, at: new Date().toISOString(), reason };
    log.error(`bundle version ${b.version} refused: ${reason}; keeping version ${status.version}`);
    opts.onBundle?.({ version: b.version, adopted: false, reason, refusal, rendered: refusal === 'failed' });
    publish();
  };

  /** The local policy's objections to a materialized bundle (none when it does not load: the pass says why). */
  const policyRefusal = async (dir: string): Promise<string | undefined> => {
    if (!policy.allowCommands.length && !policy.allowDests.length) return undefined;
    try {
      const resources = await loadResources({ confdir: dir, prefix: opts.prefix ?? '', destDir: opts.confdir });
      const problems = policyProblems(resources, policy);
      return problems.length ? problems.join('; ') : undefined;
    } catch (err) {
      if (err instanceof ResourceError) return undefined;
      throw err;
    }
  };

  const adopt = async (b: Bundle): Promise<void> => {
    // Trust and policy first: a refused bundle runs nothing, and the running watch goes on.
    const untrusted = trust.length ? untrustedReason(b, trust) : undefined;
    if (untrusted) return refuse(b, `untrusted (${untrusted})`, 'untrusted');
    const dir = materializeBundle(b.files, bundleDir(opts.stateDir, b));
    const notAllowed = await policyRefusal(dir);
    if (notAllowed) return refuse(b, `not allowed (${notAllowed})`, 'not allowed');
    const local = readApplied(opts.stateDir);
    await stopWatch(); // one pass at a time on the dests
    if (b.pushedBy === id && local?.checksum === b.checksum) {
      // Pushed from here, and the push applied it here already: no second render, no second reload.
      applied = local;
      log.info(`bundle version ${b.version} was pushed from this instance and is applied already`);
    } else {
      const renderer = new Renderer({ ...rendererOpts(opts.signal), confdir: dir });
      // Every resource must load and render before any dest is touched; then the real pass checks and swaps.
      const plan = await renderer.pass(undefined, { noop: true });
      const pass = plan.ok ? await renderer.pass() : plan;
      if (!pass.ok) {
        if (!opts.signal.aborted) refuse(b, pass.errors[0]?.message.split('\n')[0] ?? 'the pass failed');
        if (!opts.signal.aborted) startWatch();
        return;
      }
      const next = { version: b.version, checksum: b.checksum, dir, appliedAt: new Date().toISOString() };
      writeApplied(opts.stateDir, next);
      applied = next;
      log.info(`bundle version ${b.version} adopted (${b.checksum.slice(0, 12)}, pushed by ${b.host})`);
    }
    delete status.refused;
    Object.assign(status, { version: applied.version, checksum: applied.checksum, appliedAt: applied.appliedAt });
    opts.onBundle?.({ version: b.version, adopted: true, rendered: b.pushedBy !== id });
    publish();
    if (!opts.signal.aborted) startWatch();
  };

  publish();
  startWatch();
  let since = 0;
  let candidate: { version: number; checksum: string; reads: number } | undefined;
  let failures = 0;
  try {
    while (!opts.signal.aborted) {
      let bundle: Bundle | undefined;
      try {
        if (candidate) await sleep(checkMs, opts.signal);
        // A refused bundle's retry time ends the wait early, so the retry happens without a store change.
        const waitMs = status.refused ? Math.min(30_000, Math.max(100, retryAt - Date.now())) : 30_000;
        const snap = candidate ? await opts.store.list(CONFIG_PREFIX, { signal: opts.signal }) : await opts.store.watch(CONFIG_PREFIX, since, { signal: opts.signal, waitMs });
        since = snap.index;
        failures = 0;
        const pair = snap.pairs.find((p) => p.key === BUNDLE_KEY);
        bundle = pair ? parseBundle(pair.value) : undefined;
      } catch (err) {
        if (opts.signal.aborted) break;
        candidate = undefined;
        if ((err as { code?: string }).code === 'FLEET_BAD_BUNDLE') {
          log.error(`${(err as Error).message}; keeping version ${status.version}`);
        } else {
          // The store did not answer: the same full-jitter back-off as the data watches.
          log.warn(`reading ${BUNDLE_KEY}: ${(err as Error).message}`);
          await sleep(backoffDelay(failures++, { baseMs: 250, maxMs: 30_000 }), opts.signal);
        }
        continue;
      }
      // Any other bundle than the one running is the store's wish (even a lower version, after a store reset).
      const wanted = bundle && bundle.checksum !== applied?.checksum && (!sameBundle(bundle, status.refused) || Date.now() >= retryAt);
      if (!bundle || !wanted) {
        candidate = undefined;
        continue;
      }
      if (candidate?.version === bundle.version && candidate.checksum === bundle.checksum) candidate.reads++;
      else candidate = { version: bundle.version, checksum: bundle.checksum, reads: 1 };
      if (candidate.reads < diffs) continue;
      candidate = undefined;
      if (bundle.version < (applied?.version ?? 0)) log.warn(`bundle version ${bundle.version} is below the running ${applied?.version}: the store was reset or rewritten; adopting it`);
      try {
        await adopt(bundle);
      } catch (err) {
        // A disk error (materialize, fleet.json): report, keep the running version, try again later.
        if (opts.signal.aborted) break;
        refuse(bundle, (err as Error).message, 'failed');
        await stopWatch();
        if (!opts.signal.aborted) startWatch();
      }
    }
  } finally {
    await stopWatch();
    await publisher.close();
  }
}
