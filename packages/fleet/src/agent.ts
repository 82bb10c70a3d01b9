// A renderer that takes its configuration from the store (--config-from-store). It renders with
// the bundle it runs, watches haproxy/.config/bundle, and adopts a newer version only after it
// read the same version diffsBeforeSync times in a row, and only if a pass with it loads, renders
// and passes every check_cmd; otherwise it keeps the running version and says why in its status.
import { hostname } from 'node:os';
import { backoffDelay, sleep, withFields } from '@confd-haproxy/kv';
import { runWatch, withRenderer, type PassResult, type RendererOptions } from '@confd-haproxy/renderer';
import type { LocalPolicy } from '@confd-haproxy/resource';
import { bundleKey, Candidate, RefusalBackoff, storeFailure } from './adoption.js';
import { appliedOf, bundleDir, materializeBundle, parseBundle, readApplied, writeApplied, BUNDLE_KEY, CONFIG_PREFIX, type Applied, type Bundle } from './bundle.js';
import { readJudged, restoreApplied, reverted, waiting, writeJudging, type Before } from './canary.js';
import { RolloutGate } from './canary-gate.js';
import { instanceId } from './identity.js';
import { resumeApplied } from './resume.js';
import { foreignReason, staleReason } from './scope.js';
import { bundlePolicyProblem, recordPass } from './pass-status.js';
import { privateStateDir } from './state-dir.js';
import { StatusPublisher, type InstanceStatus } from './status.js';
import { untrustedReason, type TrustedKey } from './trust.js';
import type { FleetClock, FleetOptions, RefusalKind } from './agent-options.js';
import { RenderWorker } from './render-worker.js';

export type { BundleEvent, FleetClock, FleetOptions, RefusalKind } from './agent-options.js';

/** Errors of a pass that mean the bundle asked for what the instance does not allow. */
const NOT_ALLOWED_CODES: ReadonlySet<string> = new Set(['RESOURCE_NOT_ALLOWED', 'TEMPLATE_NOT_ALLOWED']);

/** Longest a watch of the bundle key waits for a change. */
const WATCH_WAIT_MS = 30_000;

/**
 * One instance of the fleet. It renders with the bundle it runs (a data watch), reads the bundle
 * key in a loop (`step`), and each decision about a bundle read there is one method: `wants`,
 * `countRead`, `trustProblem`, `policyProblem`, `adopt`, `refuse`. `run()` owns the lifecycle.
 */
export class FleetAgent {
  readonly id: string;
  readonly #opts: FleetOptions;
  readonly #log: FleetOptions['logger'];
  readonly #clock: FleetClock;
  readonly #checkMs: number;
  readonly #trust: readonly TrustedKey[];
  readonly #policy: LocalPolicy;
  readonly #status: InstanceStatus;
  readonly #publisher: StatusPublisher;
  readonly #candidate: Candidate;
  // A refused bundle is tried again after a back-off (the reason may pass: a store outage, a slow check).
  readonly #backoff: RefusalBackoff;
  #applied: Applied | undefined;
  // The version of the trusted bundle running: with --trust-key, only a higher one is adopted.
  #floor = 0;
  // The bundle the store held at the last read (its retry time, when refused, ends a watch early).
  #inStore: Bundle | undefined;
  #since = 0;
  #failures = 0;
  // The store failed the last pass with a bundle (its data read): that bundle is read again after a short back-off, not refused.
  #passStoreFailure: Error | undefined;
  // Canary rollouts: who takes a rollout bundle, its judgement after adoption, the revert.
  readonly #gate: RolloutGate;
  // Bundles judged failed here (bundleKey): never taken again.
  readonly #judged: Set<string>;
  // The data watch runs with the current bundle; switching bundles restarts it.
  #watchAc = new AbortController();
  #watching: Promise<void> = Promise.resolve();
  /** The render worker of the confdir rendered last: an adoption's pass and the watch after it share it. */
  readonly #worker = new RenderWorker();

  constructor(opts: FleetOptions, clock: FleetClock = Date) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#clock = clock;
    privateStateDir(opts.stateDir, { create: true });
    this.id = instanceId(opts.stateDir);
    this.#checkMs = opts.checkIntervalMs ?? 200;
    this.#trust = opts.trustKeys ?? [];
    this.#policy = opts.policy ?? { allowCommands: [], allowDests: [] };
    this.#candidate = new Candidate(opts.diffsBeforeSync ?? 3);
    this.#backoff = new RefusalBackoff(opts.retryRefusedMs ?? 60_000);
    const resumed = resumeApplied(opts.stateDir, this.#trust);
    this.#applied = resumed.applied;
    if (this.#trust.length) this.#floor = this.#applied?.version ?? 0;
    this.#status = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      startedAt: new Date().toISOString(),
      version: this.#applied?.version ?? 0,
      checksum: this.#applied?.checksum ?? '',
      ...(this.#applied ? { appliedAt: this.#applied.appliedAt } : {}),
      ...(resumed.setAside ? { setAside: { ...resumed.setAside, at: new Date().toISOString() } } : {}),
      ...(resumed.interrupted ? { refused: { ...resumed.interrupted, at: new Date().toISOString(), reason: `judged failed (${resumed.interrupted.reason}); reverted` } } : {}),
      dests: {},
    };
    if (opts.labels?.length) this.#status.labels = [...opts.labels];
    this.#judged = new Set(readJudged(opts.stateDir).map((j) => j.key));
    this.#gate = new RolloutGate({ id: this.id, labels: opts.labels ?? [], statsSocket: opts.statsSocket, trustKeys: this.#trust, logger: this.#log, signal: opts.signal });
    this.#publisher = new StatusPublisher(opts.store, this.id, { ttlMs: opts.statusTtlMs ?? 15_000, logger: this.#log });
  }

  /** The bundle this instance runs (undefined: its own --confdir). */
  get applied(): Applied | undefined {
    return this.#applied;
  }

  /** The status it publishes, as of now. */
  get status(): InstanceStatus {
    return structuredClone(this.#status);
  }

  /** When the last refused bundle may be tried again (ms since the epoch). */
  get retryAt(): number {
    return this.#backoff.retryAt;
  }

  /** Start, read the bundle key until the signal ends it, then stop. */
  async run(): Promise<void> {
    this.start();
    try {
      while (!this.#opts.signal.aborted) await this.step();
    } finally {
      await this.stop();
    }
  }

  /** Say what runs, publish the status and start the data watch. */
  start(): void {
    // What a restart continues with counts as adopted (metrics show the running version at once).
    if (this.#applied) this.#opts.onBundle?.({ version: this.#applied.version, adopted: true, rendered: false });
    const aside = this.#status.setAside;
    if (aside) withFields(this.#log, { code: 'BUNDLE_SET_ASIDE', version: aside.version }).error(`bundle version ${aside.version} (${aside.checksum.slice(0, 12)}), adopted before this start, is not used: ${aside.reason}; rendering --confdir ${this.#opts.confdir} until a bundle is adopted`);
    if (!this.#trust.length) withFields(this.#log, { code: 'NO_TRUST_KEY' }).warn(`no --trust-key: any principal that can write ${BUNDLE_KEY} can change the commands this instance runs`);
    if (!this.#policy.allowDests.length) withFields(this.#log, { code: 'NO_ALLOW_DEST' }).warn('no --allow-dest: a bundle may write any file this process can; name the files it renders (--allow-dest /etc/haproxy/haproxy.cfg)');
    this.publish();
    this.startWatch();
  }

  /** Stop the data watch and withdraw the status. */
  async stop(): Promise<void> {
    await this.#gate.stop();
    await this.stopWatch();
    await this.#worker.close();
    await this.#publisher.close();
  }

  /** One read of the bundle key and what follows from it: nothing, one more read of a candidate, or an adoption. */
  async step(): Promise<void> {
    let bundle: Bundle | undefined;
    try {
      bundle = await this.readBundle();
    } catch (err) {
      await this.#readFailed(err);
      return;
    }
    if (!bundle || !this.wants(bundle)) {
      this.#candidate.forget();
      return;
    }
    if (this.countRead(bundle)) await this.#tryAdopt(bundle);
  }

  /**
   * The bundle in the store (undefined: none): at once after a change, or, while a candidate is
   * counted, after the check interval. A refused bundle's retry time ends the wait early, so the
   * retry happens without a store change.
   */
  async readBundle(): Promise<Bundle | undefined> {
    const { store, signal } = this.#opts;
    if (this.#candidate.pending) await sleep(this.#checkMs, signal);
    const snap = this.#candidate.pending
      ? await store.list(CONFIG_PREFIX, { signal })
      : await store.watch(CONFIG_PREFIX, this.#since, { signal, waitMs: this.#backoff.waitMs(this.#inStore, this.#clock.now(), WATCH_WAIT_MS) });
    this.#since = snap.index;
    this.#failures = 0;
    const pair = snap.pairs.find((p) => p.key === BUNDLE_KEY);
    this.#inStore = undefined;
    this.#gate.readRecord(snap.pairs);
    if (pair) this.#inStore = parseBundle(pair.value);
    return this.#inStore;
  }

  async #readFailed(err: unknown, what = `reading ${BUNDLE_KEY}`): Promise<void> {
    if (this.#opts.signal.aborted) return;
    this.#candidate.forget();
    if ((err as { code?: string }).code === 'FLEET_BAD_BUNDLE') {
      withFields(this.#log, { err }).error(`${(err as Error).message}; keeping version ${this.#status.version}`);
    } else {
      // The store did not answer: the same full-jitter back-off as the data watches.
      withFields(this.#log, { code: 'STORE_UNAVAILABLE', err }).warn(`${what}: ${(err as Error).message}`);
      await sleep(backoffDelay(this.#failures++, { baseMs: 250, maxMs: 30_000 }), this.#opts.signal);
    }
  }

  /** Any other bundle than the one running is the store's wish (adopt says whether it may run); a refused one only once its own retry time has come. */
  wants(b: Bundle): boolean {
    return b.checksum !== this.#applied?.checksum && !this.#judged.has(bundleKey(b)) && this.#backoff.mayTry(b, this.#clock.now());
  }

  /** Count one read of b (diffs_before_sync); true when it was read often enough in a row to be adopted. */
  countRead(b: Bundle): boolean {
    return this.#candidate.read(b);
  }

  async #tryAdopt(b: Bundle): Promise<void> {
    // Without --trust-key anyone who writes the store picks what runs: a lower version is followed, as after a store reset.
    if (!this.#trust.length && b.version < (this.#applied?.version ?? 0)) withFields(this.#log, { code: 'BUNDLE_DOWNGRADE', version: b.version }).warn(`bundle version ${b.version} is below the running ${this.#applied?.version}: the store was reset or rewritten; adopting it (no --trust-key)`);
    try {
      await this.adopt(b);
      const failure = this.#passStoreFailure;
      this.#passStoreFailure = undefined;
      if (failure) {
        // Read the bundle again with a plain read after the back-off: a watch would wait for a change that will not come.
        this.#since = 0;
        await this.#readFailed(failure, `bundle version ${b.version} not tried: the store failed its pass, reading it again`);
      }
    } catch (err) {
      // A disk error (materialize, fleet.json): report, keep the running version, try again later.
      if (this.#opts.signal.aborted) return;
      this.refuse(b, (err as Error).message, 'failed');
      await this.stopWatch();
      if (!this.#opts.signal.aborted) this.startWatch();
    }
  }

  /** Why b is not signed by a trusted key (undefined: it is, or no --trust-key is given). */
  trustProblem(b: Bundle): string | undefined {
    return this.#trust.length ? untrustedReason(b, this.#trust) : undefined;
  }

  /** Why b is for another environment than this instance's (undefined: it is for this one). */
  scopeProblem(b: Bundle): string | undefined {
    return foreignReason(b, this.#opts.environment);
  }

  /** Why b is not newer than the trusted bundle running (undefined: it is, or no --trust-key is given). */
  orderProblem(b: Bundle): string | undefined {
    return this.#trust.length ? staleReason(b, this.#floor) : undefined;
  }

  /**
   * The local policy's objections to a materialized bundle, its commands read as argv words, and what
   * no bundle may do (a src outside its templates, an unsafe mode); none when it does not load
   * otherwise: the pass says why.
   */
  policyProblem(dir: string): Promise<string | undefined> {
    return bundlePolicyProblem(dir, { prefix: this.#opts.prefix ?? '', destDir: this.#opts.confdir, policy: this.#policy });
  }

  /** Run b if it is trusted, allowed, and a pass with it loads, renders and checks; otherwise refuse it and keep the running one. */
  async adopt(b: Bundle): Promise<void> {
    // Trust and policy first: a refused bundle runs nothing, and the running watch goes on.
    const untrusted = this.trustProblem(b);
    if (untrusted) return this.refuse(b, `untrusted (${untrusted})`, 'untrusted');
    const foreign = this.scopeProblem(b);
    if (foreign) return this.refuse(b, `foreign (${foreign})`, 'foreign');
    const stale = this.orderProblem(b);
    if (stale) return this.refuse(b, `stale (${stale})`, 'stale');
    const audience = this.#gate.audience(b);
    if (!audience.take) return this.#wait(b, audience.reason);
    const dir = materializeBundle(b.files, bundleDir(this.#opts.stateDir, b));
    const notAllowed = await this.policyProblem(dir);
    if (notAllowed) return this.refuse(b, `not allowed (${notAllowed})`, 'not allowed');
    const local = readApplied(this.#opts.stateDir);
    await this.#gate.stop(); // a judgement of the bundle running ends with it
    await this.stopWatch(); // one pass at a time on the dests
    const before = b.rollout ? await this.#gate.before() : undefined;
    const previous = this.#applied;
    const next = b.pushedBy === this.id && local?.checksum === b.checksum ? this.#pushedHere(b, local) : await this.#passWith(b, dir);
    if (next) this.#adopted(b, next);
    if (!this.#opts.signal.aborted) this.startWatch();
    if (next && b.rollout && before && audience.role !== 'everyone') this.#judge(b, audience.role, before, previous);
  }

  /** A rollout bundle this instance does not take yet: it keeps what it runs and says what it waits for. */
  #wait(b: Bundle, reason: string): void {
    if (!waiting(this.#status, b, reason)) return;
    this.#log.info(`bundle version ${b.version}: ${reason}; keeping version ${this.#status.version}`);
    this.publish();
  }

  /** Judge b on this HAProxy after the window (in the background); failed: back to `previous`. */
  #judge(b: Bundle, role: 'canary' | 'promoted', before: Before, previous: Applied | undefined): void {
    writeJudging(this.#opts.stateDir, b, previous);
    this.#gate.judge(b, role, before, {
      report: (r) => {
        if (r.state === 'passed') writeJudging(this.#opts.stateDir, undefined);
        this.#status.rollout = r;
        this.publish();
      },
      failed: (reason) => this.#revert(b, previous, reason),
    });
  }

  /** b was judged failed: remember it for good, run `previous` (or --confdir) again, and say so. */
  async #revert(b: Bundle, previous: Applied | undefined, reason: string): Promise<void> {
    if (this.#applied?.checksum !== b.checksum || this.#opts.signal.aborted) return;
    this.#judged.add(this.#gate.remember(this.#opts.stateDir, b, reason));
    await this.stopWatch();
    this.#applied = previous;
    restoreApplied(this.#opts.stateDir, previous);
    writeJudging(this.#opts.stateDir, undefined);
    reverted(this.#status, b, previous, reason);
    withFields(this.#log, { code: 'BUNDLE_JUDGED_FAILED', version: b.version }).error(`bundle version ${b.version} judged failed on this HAProxy: ${reason}; back to version ${previous?.version ?? 0}`);
    this.#opts.onBundle?.({ version: b.version, adopted: false, reason, refusal: 'judged', rendered: true });
    this.publish();
    if (!this.#opts.signal.aborted) this.startWatch();
  }

  /** Pushed from here, and the push applied it here already: no second render, no second reload. */
  #pushedHere(b: Bundle, local: Applied): Applied {
    this.#log.info(`bundle version ${b.version} was pushed from this instance and is applied already`);
    return local;
  }

  /** Every resource must load and render before any dest is touched; then the real pass checks and swaps. Undefined: refused. */
  async #passWith(b: Bundle, dir: string): Promise<Applied | undefined> {
    const pass = await withRenderer(this.#worker.with({ ...this.#rendererOptions(this.#opts.signal), confdir: dir, bundle: true }), async (renderer) => {
      const plan = await renderer.pass(undefined, { noop: true });
      return plan.ok ? renderer.pass() : plan;
    });
    if (!pass.ok) {
      if (this.#opts.signal.aborted) return undefined;
      // Only what the bundle causes is refused; a store that failed the pass's reads judged nothing.
      this.#passStoreFailure = storeFailure(pass.errors);
      if (!this.#passStoreFailure) this.#refusePass(b, pass);
      return undefined;
    }
    const next = appliedOf(b, dir);
    writeApplied(this.#opts.stateDir, next);
    this.#log.info(`bundle version ${b.version} adopted (${b.checksum.slice(0, 12)}, pushed by ${b.host})`);
    return next;
  }

  /** A pass that failed: the bundle is "not allowed" when what failed was a render the instance does not allow (a directive, getenv). */
  #refusePass(b: Bundle, pass: PassResult): void {
    const notAllowed = pass.errors.find((e) => NOT_ALLOWED_CODES.has((e as { code?: string }).code ?? ''));
    const first = (e: Error | undefined) => e?.message.split('\n')[0] ?? 'the pass failed';
    if (notAllowed) this.refuse(b, `not allowed (${first(notAllowed)})`, 'not allowed');
    else this.refuse(b, first(pass.errors[0]));
  }

  #adopted(b: Bundle, applied: Applied): void {
    this.#applied = applied;
    if (this.#trust.length) this.#floor = b.version;
    this.#backoff.clear();
    delete this.#status.refused;
    delete this.#status.setAside;
    delete this.#status.waiting;
    Object.assign(this.#status, { version: applied.version, checksum: applied.checksum, appliedAt: applied.appliedAt });
    this.#opts.onBundle?.({ version: b.version, adopted: true, rendered: b.pushedBy !== this.id });
    this.publish();
  }

  /** Keep the running bundle, say why b was refused, and try b (that very bundle, not another with its files) again after the back-off. */
  refuse(b: Bundle, reason: string, refusal: RefusalKind = 'failed'): void {
    this.#backoff.refuse(b, this.#clock.now());
    this.#status.refused = { version: b.version, checksum: b.checksum, at: new Date().toISOString(), reason };
    withFields(this.#log, { code: 'BUNDLE_REFUSED', version: b.version, refusal }).error(`bundle version ${b.version} refused: ${reason}; keeping version ${this.#status.version}`);
    this.#opts.onBundle?.({ version: b.version, adopted: false, reason, refusal, rendered: refusal === 'failed' });
    this.publish();
  }

  /** Render with the running bundle (or --confdir) and re-render on every store change, until stopWatch. */
  startWatch(): void {
    this.#watchAc = new AbortController();
    const signal = AbortSignal.any([this.#opts.signal, this.#watchAc.signal]);
    this.#watching = runWatch(this.#worker.with(this.#rendererOptions(signal))).catch((err: unknown) => withFields(this.#log, { code: 'RENDERER_FAILED', err }).error(`renderer: ${(err as Error).message}`));
  }

  async stopWatch(): Promise<void> {
    this.#watchAc.abort();
    await this.#watching;
  }

  /** Publish the status as it is now (in the background: the publisher keeps it alive). */
  publish(): void {
    void this.#publisher.publish({ ...this.#status });
  }

  #rendererOptions(signal: AbortSignal): RendererOptions {
    return {
      ...this.#opts,
      confdir: this.#applied?.dir ?? this.#opts.confdir,
      destDir: this.#opts.confdir,
      // Until a bundle is adopted it runs the operator's own --confdir.
      bundle: this.#applied !== undefined,
      signal,
      onPass: (p) => {
        this.#recordPass(p);
        this.#opts.onPass?.(p);
      },
    };
  }

  /** A pass's dest checksums and outcome go into the status. */
  #recordPass(p: PassResult): void {
    recordPass(this.#status, p);
    this.publish();
  }
}

/** Run a fleet agent until opts.signal ends it. */
export async function runFleet(opts: FleetOptions): Promise<void> {
  return new FleetAgent(opts).run();
}
