// One etcd watcher per watched prefix, kept open across the seam's watch() calls. A watcher per
// call had to be cancelled when its wait ended, and cancelling etcd3's last watcher cancels its
// gRPC stream, which marks the member failed and re-dials every service: an idle renderer's CPU.
import type { Etcd3, Watcher } from 'etcd3';

/** How a wait on a feed ended. */
export type FeedWait = 'changed' | 'timeout' | 'lost' | 'aborted';

/** A feed nobody waited on for this long is closed at the next watch() (the prefix is no longer watched). */
export const IDLE_FEED_MS = 10 * 60_000;

interface WatchResponse {
  events: Array<{ kv: { mod_revision: string } }>;
}

export class PrefixFeed {
  /** The first revision this feed reports: every change at or after it is seen. */
  readonly from: number;
  lastUsed = Date.now();
  #latest = 0;
  #connected = false;
  #dead = false;
  /** etcd ended the watcher itself (compacted start revision): cancelling it again would wait forever. */
  #gone = false;
  readonly #waiters = new Set<() => void>();
  readonly #watcher: Watcher;

  constructor(client: Etcd3, etcdPrefix: string, since: number) {
    this.from = since + 1;
    // Built before it connects, so a start revision etcd cancels at once (compacted) is seen too.
    this.#watcher = client.watch().prefix(etcdPrefix).startRevision(String(this.from)).watcher();
    this.#watcher.on('connected', () => (this.#connected = true));
    this.#watcher.on('data', (res: WatchResponse) => this.#onEvents(res));
    this.#watcher.on('error', () => this.#die(true));
    this.#watcher.on('end', () => this.#die(true));
    // The member went away (restart, restore): etcd3 would resume from its last revision, which may
    // now lie ahead of the store's; the feed is given up and the next watch() starts a new one.
    this.#watcher.on('disconnected', () => this.#die(false));
  }

  /** False once the feed was lost: its silence no longer means "nothing changed". */
  get alive(): boolean {
    return !this.#dead;
  }

  /** True while etcd has confirmed the watcher and it has not been lost since. */
  get connected(): boolean {
    return this.#connected && !this.#dead;
  }

  /** Whether this feed has seen every change after `since` (it started at or before since + 1). */
  covers(since: number): boolean {
    return since >= this.from - 1;
  }

  changedSince(since: number): boolean {
    return this.#latest > since;
  }

  /** Wait for a change above `since`, the feed's loss, waitMs or the signal, whichever comes first. */
  wait(since: number, waitMs: number, signal: AbortSignal): Promise<FeedWait> {
    this.lastUsed = Date.now();
    if (signal.aborted) return Promise.resolve('aborted');
    if (this.#dead) return Promise.resolve('lost');
    if (this.changedSince(since)) return Promise.resolve('changed');
    return new Promise<FeedWait>((done) => {
      const finish = (how: FeedWait) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#waiters.delete(onEvent);
        this.lastUsed = Date.now();
        done(how);
      };
      const onAbort = () => finish('aborted');
      const onEvent = () => {
        if (this.#dead) finish('lost');
        else if (this.changedSince(since)) finish('changed');
      };
      const timer = setTimeout(() => finish('timeout'), waitMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(onEvent);
    });
  }

  get idle(): boolean {
    return this.#waiters.size === 0 && Date.now() - this.lastUsed > IDLE_FEED_MS;
  }

  /** Cancel the watcher (at most 2 s: a member that went away may never confirm it). */
  async close(): Promise<void> {
    this.#die(false);
    if (this.#gone) return;
    this.#gone = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#watcher.cancel().catch(() => {}), new Promise<void>((done) => (timer = setTimeout(done, 2000)))]);
    clearTimeout(timer);
  }

  #onEvents(res: WatchResponse): void {
    // A progress notification has no events; only a change moves the feed on.
    for (const ev of res.events) this.#latest = Math.max(this.#latest, Number(ev.kv.mod_revision));
    if (res.events.length > 0) this.#notify();
  }

  #die(gone: boolean): void {
    if (gone) this.#gone = true;
    if (this.#dead) return;
    this.#dead = true;
    this.#notify();
  }

  #notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** The store's feeds by prefix: one alive feed per prefix, started from the first caller's index. */
export class PrefixFeeds {
  readonly #feeds = new Map<string, PrefixFeed>();

  constructor(private readonly open: (etcdPrefix: string, since: number) => PrefixFeed) {}

  /**
   * The feed that has seen every change of `etcdPrefix` after `since`, started now when there is
   * none (or it was lost); undefined when the prefix's feed started after `since` (the caller
   * holds an older index and needs a fresh read).
   */
  async feed(etcdPrefix: string, since: number): Promise<PrefixFeed | undefined> {
    await this.#closeIdle(etcdPrefix);
    const known = this.#feeds.get(etcdPrefix);
    if (known?.alive) return known.covers(since) ? known : undefined;
    if (known) await this.drop(etcdPrefix, known);
    const fresh = this.open(etcdPrefix, since);
    this.#feeds.set(etcdPrefix, fresh);
    return fresh;
  }

  /** Close a feed (lost, or its silence could not be vouched for) so the next watch() starts anew. */
  async drop(etcdPrefix: string, feed: PrefixFeed): Promise<void> {
    if (this.#feeds.get(etcdPrefix) === feed) this.#feeds.delete(etcdPrefix);
    await feed.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.#feeds.values()];
    this.#feeds.clear();
    await Promise.all(all.map((f) => f.close()));
  }

  async #closeIdle(except: string): Promise<void> {
    for (const [prefix, feed] of this.#feeds) if (prefix !== except && feed.idle) await this.drop(prefix, feed);
  }
}
