// -watch: one Watch owns what a watching renderer keeps between changes (the loops' latest answers,
// the loops, the pass queue); the fast-path rule is FastPathPolicy's, the reset hold ResetHold's.
import { join } from 'node:path';
import { isKVError, sharedOutageLog, watchPrefix, withFields, type KVSnapshot, type SharedOutageLog, type WatchIndexedOptions } from '@confd-haproxy/kv';
import { createQuiescence, type Quiescence } from '@confd-haproxy/runner';
import { FastPathPolicy } from './fast-path.js';
import { Renderer } from './renderer.js';
import { mostKeysGone, ResetHold } from './reset-hold.js';
import { watchCatalogKey, type CatalogSnapshot } from './services.js';
import type { RendererOptions } from './types.js';

/**
 * -watch: blocking watches on every prefix, plus file events on conf.d and templates; changes are
 * coalesced: the first change after min of quiet is rendered at once (leading edge), the changes
 * that follow wait for min of quiet, at most max, and go in one more pass. A change within a burst
 * is also tried at once as a runtime-only pass (FastPathPolicy): a failover that only moves servers
 * goes to the runtime API without waiting for the quiet period (anything needing a reload still waits for it).
 */
export async function runWatch(opts: RendererOptions): Promise<void> {
  await new Watch(opts).run();
}

/** One watching renderer, from its start until opts.signal stops it. */
class Watch {
  readonly #opts: RendererOptions;
  readonly #renderer: Renderer;
  /** Each watch loop's latest answer, by KV prefix and by catalog key. */
  readonly #latest = new Map<string, KVSnapshot>();
  readonly #latestCatalog = new Map<string, CatalogSnapshot>();
  /** What the loops watch (from conf.d), and the controller that stops them when conf.d changes. */
  #prefixes: string[] = [];
  #catalog: string[] = [];
  #loops = new AbortController();
  /** Runtime-only and full passes never overlap: both may write the same dest. */
  #serial: Promise<unknown> = Promise.resolve();
  readonly #quiet: Quiescence;
  readonly #hold: ResetHold;
  readonly #fast: FastPathPolicy;
  /** An outage is told once when its first watch fails, as a count while it lasts, and once when no watch fails. */
  readonly #outages: SharedOutageLog;
  /** A short back-off ceiling: a restarted store is read again within about a second. */
  readonly #backoff: { baseMs: number; maxMs: number };

  constructor(opts: RendererOptions) {
    this.#opts = opts;
    this.#renderer = new Renderer(opts);
    const wait = opts.wait ?? { minMs: 200, maxMs: 2000 };
    // Leading edge: a change after a quiet period renders at once; the changes that follow it are coalesced.
    this.#quiet = createQuiescence({ ...wait, signal: opts.signal, leading: true }, () => this.#fullPass());
    this.#hold = new ResetHold(opts.resetHoldMs ?? 500, opts.logger, () => this.#quiet.poke());
    this.#fast = new FastPathPolicy(wait.minMs);
    this.#outages = sharedOutageLog(opts.logger, `store ${opts.store.describe}`);
    this.#backoff = opts.watchBackoff ?? { baseMs: 200, maxMs: 1000 };
  }

  /** Watch conf.d and the store until stopped; then stop the loops and wait for the pass under way. */
  async run(): Promise<void> {
    const { signal, confdir, logger } = this.#opts;
    // Loaded here: a -onetime run never needs a file watcher.
    const { watch: chokidarWatch } = await import('chokidar');
    const files = chokidarWatch([join(confdir, 'conf.d'), join(confdir, 'templates')], { ignoreInitial: true, depth: 3 });
    files.on('all', () => {
      logger.info('conf.d or templates changed: reloading them');
      this.#renderer.invalidate();
      void this.#startLoops();
    });
    files.on('error', (err) => withFields(logger, { code: 'CONFDIR_WATCH_FAILED', err }).warn(`file watch: ${String(err)}`));
    await this.#startLoops();
    await new Promise<void>((done) => {
      if (signal.aborted) return done();
      signal.addEventListener('abort', () => done(), { once: true });
    });
    this.#loops.abort();
    this.#hold.stop();
    this.#quiet.stop();
    await files.close();
    await this.#quiet.idle();
    await this.#serial;
    await this.#renderer.close();
  }

  #exclusive(fn: () => Promise<unknown>): Promise<unknown> {
    return (this.#serial = this.#serial.then(fn, fn).catch(() => undefined));
  }

  /** The quiet period ended (or a leading edge): one full pass over the latest answers. */
  async #fullPass(): Promise<void> {
    await this.#exclusive(async () => {
      if (this.#hold.held) return;
      await this.#renderer.pass(this.#latest, { catalog: this.#latestCatalog });
    });
  }

  /** Some answer changed and every loop has answered. */
  #changed(): void {
    // Rendered at once (leading edge): that full pass applies what the runtime API can, first.
    if (this.#quiet.poke()) return;
    if (this.#opts.signal.aborted || !this.#fast.take(Date.now())) return;
    void this.#exclusive(async () => {
      this.#fast.started();
      if (this.#hold.held) return;
      const r = await this.#renderer.pass(this.#latest, { runtimeOnly: true, catalog: this.#latestCatalog });
      this.#fast.finished(Date.now(), Boolean(r.deferred?.length));
    });
  }

  #ready(): boolean {
    return this.#prefixes.every((x) => this.#latest.has(x)) && this.#catalog.every((x) => this.#latestCatalog.has(x));
  }

  #onSnapshot(p: string, snap: KVSnapshot): void {
    const before = this.#latest.get(p);
    if (before && mostKeysGone(before.pairs.length, snap.pairs.length)) {
      this.#hold.reset(`watch ${p || '/'}: ${before.pairs.length - snap.pairs.length} of ${before.pairs.length} keys gone at once`);
    } else this.#hold.changed();
    this.#latest.set(p, snap);
    if (!this.#hold.held && this.#ready()) this.#changed();
  }

  #onCatalog(key: string, snap: CatalogSnapshot): void {
    this.#latestCatalog.set(key, snap);
    if (!this.#hold.held && this.#ready()) this.#changed();
  }

  /** (Re)start one loop per prefix and catalog key conf.d names; a conf.d that does not load keeps the loops it had stopped and waits for a fix. */
  async #startLoops(): Promise<void> {
    this.#loops.abort();
    this.#loops = new AbortController();
    this.#latest.clear();
    this.#latestCatalog.clear();
    try {
      this.#prefixes = await this.#renderer.prefixes();
      this.#catalog = await this.#renderer.catalogKeys();
      this.#outages.retain([...this.#catalog.map((k) => `watch ${k}`), ...this.#prefixes.map((p) => `watch ${p || '/'}`)]);
    } catch (err) {
      this.#renderer.loadFailed(err as Error, {}, '; keeping the last good configuration, waiting for conf.d to be fixed');
      return;
    }
    const { store } = this.#opts;
    const signal = AbortSignal.any([this.#opts.signal, this.#loops.signal]);
    for (const key of this.#catalog) this.#follow<CatalogSnapshot>(key, key, signal, (o) => watchCatalogKey(store.catalog!, key, o), (snap) => this.#onCatalog(key, snap));
    for (const p of this.#prefixes) this.#follow<KVSnapshot>(p, p || '/', signal, (o) => watchPrefix(store, p, o), (snap) => this.#onSnapshot(p, snap));
  }

  /**
   * One watch loop, whatever it reads (a KV prefix, a catalog answer): its outage told through the
   * shared outage log, its liveness to onWatch, a reset of its index held as any store reset.
   */
  #follow<S>(prefix: string, label: string, signal: AbortSignal, watch: (o: WatchIndexedOptions<S>) => AsyncGenerator<S>, onSnap: (snap: S) => void): void {
    const outage = this.#outages.source(`watch ${label}`);
    const { onWatch } = this.#opts;
    void (async () => {
      for await (const snap of watch({
        signal,
        backoff: this.#backoff,
        onReset: ({ from, to }) => this.#hold.reset(`watch ${label}: the store's index went back from ${from} to ${to} (restarted or restored)`),
        onError: (err, attempt, delay) => {
          const what = isKVError(err) ? err.message : String(err);
          outage.failed(err, `${what}; retry ${attempt} in ${delay} ms`);
          onWatch?.({ prefix, ok: false, error: what });
        },
        onPoll: () => {
          outage.ok();
          onWatch?.({ prefix, ok: true });
        },
      })) {
        outage.ok();
        onSnap(snap);
      }
    })();
  }
}
