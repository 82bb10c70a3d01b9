// Many checker processes share one tag list: each runs a TagChecker only for the tags the
// assignment gives it among the live members, and follows the members as they join and die. A tag
// handed off is stopped and its lock released at once, so its new holder need not wait for a TTL.
// The per-tag lock stays the only thing that allows a write: two members that briefly see
// different member lists may both run a tag, and only the lock holder writes it.
import type { Logger } from '@confd-haproxy/base';
import { watchPrefix, withFields, type KVWatcher } from '@confd-haproxy/kv';
import { tagsOf } from './assignment.js';
import type { TagChecker } from './core.js';
import type { PassReport, Target } from './types.js';
import type { Membership, MemberView } from './membership.js';

export interface SharedTagCheckersOptions<T extends Target = Target> {
  /** Every tag of this process's plan. */
  tags: readonly string[];
  membership: Membership;
  /** Where the kind's tag locks are (locksPrefix): a lock freed there is taken at once by the member that waits for it. */
  locks: { store: KVWatcher; prefix: string };
  /** A new TagChecker for a tag, with a kind made afresh: called each time this process takes the tag on. */
  open(tag: string): TagChecker<T>;
  intervalMs: number;
  signal: AbortSignal;
  onPass?: (r: PassReport<T>) => void;
  /** Told the tags this process checks, after each change. */
  onAssigned?: (tags: ReadonlySet<string>) => void;
  logger: Logger;
  /** For messages ("checkmysqlslave"). */
  bin: string;
}

/** What one change of the members did. */
export interface ShareChange {
  started: string[];
  stopped: string[];
}

interface Running<T extends Target> {
  checker: TagChecker<T>;
  /** Its run() began (a predecessor for the same tag had let go). */
  live: boolean;
  /** run() ended: the lock is released and the kind closed. */
  done: Promise<void>;
}

/** The TagCheckers of the tags this process holds: started and stopped as the assignment says. */
export class TagShare<T extends Target = Target> {
  readonly #o: SharedTagCheckersOptions<T>;
  readonly #running = new Map<string, Running<T>>();
  /** Tags being stopped: a tag that comes back starts only once its previous checker let go. */
  readonly #stopping = new Map<string, Promise<void>>();
  #wanted = new Set<string>();
  /** The tags whose lock someone held at the last look at the locks (none yet: unknown). */
  #locked: ReadonlySet<string> | undefined;

  constructor(o: SharedTagCheckersOptions<T>) {
    this.#o = o;
  }

  /** The tags this process holds or is taking on. */
  get held(): ReadonlySet<string> {
    return this.#wanted;
  }

  /** Run exactly the tags in `mine`: stop the others (their locks are released), start the new ones. */
  apply(mine: ReadonlySet<string>): ShareChange {
    this.#wanted = new Set(mine);
    const stopped = [...this.#running.keys()].filter((tag) => !mine.has(tag));
    for (const tag of stopped) this.#stop(tag);
    const started = [...mine].filter((tag) => !this.#running.has(tag));
    for (const tag of started) this.#start(tag);
    return { started, stopped };
  }

  #stop(tag: string): void {
    const r = this.#running.get(tag)!;
    this.#running.delete(tag);
    r.checker.stop();
    const gone = r.done.finally(() => {
      if (this.#stopping.get(tag) === gone) this.#stopping.delete(tag);
    });
    this.#stopping.set(tag, gone);
  }

  #start(tag: string): void {
    const o = this.#o;
    const checker = o.open(tag);
    const previous = this.#stopping.get(tag) ?? Promise.resolve();
    const running: Running<T> = { checker, live: false, done: Promise.resolve() };
    running.done = previous
      // Stopped again before its predecessor let go: run() would still close it, and take no lock.
      .then(() => {
        running.live = true;
        // A lock already free (its holder died or handed it over before we looked) is taken now, not after the first probes.
        if (this.#locked && !this.#locked.has(tag)) void checker.keepLock().catch(() => false);
        return checker.run({ intervalMs: o.intervalMs, ...(o.onPass ? { onPass: o.onPass } : {}) });
      })
      .catch((err: unknown) => withFields(o.logger, { code: 'TAG_CHECKER_FAILED', tag, err }).error(`${o.bin}: ${tag}: the checker loop ended: ${(err as Error).message}`));
    this.#running.set(tag, running);
  }

  /**
   * The locks held now (by anyone): each tag of ours whose lock is free and not ours yet takes it
   * now rather than at its next pass (the previous holder handed it back, or died and its session
   * expired). The lock decides as ever: a take that loses changes nothing.
   */
  takeFree(locked: ReadonlySet<string>): void {
    this.#locked = locked;
    for (const [tag, r] of this.#running) if (r.live && !locked.has(tag) && !r.checker.holder) void r.checker.keepLock().catch(() => false);
  }

  /** Stop every tag and wait until each has released its lock and closed its kind. */
  async stopAll(): Promise<void> {
    this.#wanted = new Set();
    for (const tag of [...this.#running.keys()]) this.#stop(tag);
    await Promise.all(this.#stopping.values());
  }
}

/**
 * Join the members, then follow them until the signal fires: each view of the members decides the
 * tags this process checks. On the way out every tag's lock is released, then the member key.
 */
export async function runSharedTagCheckers<T extends Target>(o: SharedTagCheckersOptions<T>): Promise<void> {
  const share = new TagShare(o);
  const { membership } = o;
  let strangers = '';
  // The lock follower ends with the members loop.
  const follow = new AbortController();
  const onAbort = () => follow.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  const following = takeFreedLocks(share, o.locks, follow.signal, o.logger);
  try {
    await membership.start();
    // Who else checks cannot be read at all: every tag, as a member that is not one.
    const forbidden = () => {
      const change = share.apply(new Set(o.tags));
      o.onAssigned?.(share.held);
      tell(o, { peers: [], strangers: [] }, o.tags, change);
    };
    for await (const view of membership.views(o.signal, forbidden)) {
      // Not a member (its key could not be written: an ACL without the .checkers rule, a store that
      // lost its session): every tag, a standby wherever another holds the lock, as without sharing.
      const member = view.peers.includes(membership.id);
      const mine = member ? tagsOf(membership.id, o.tags, view.peers) : new Set(o.tags);
      const change = share.apply(mine);
      o.onAssigned?.(share.held);
      tell(o, view, mine, change);
      if (view.strangers.join() !== strangers && view.strangers.length) {
        withFields(o.logger, { code: 'CHECKER_TAGS_DIFFER' }).warn(`${o.bin}: ${view.strangers.join(', ')} check another tag list: they do not share this one's tags (give every checker of a kind the same tags)`);
      }
      strangers = view.strangers.join();
    }
  } finally {
    follow.abort();
    o.signal.removeEventListener('abort', onAbort);
    await following;
    await share.stopAll();
    await membership.leave();
  }
}

/** Follow the kind's locks until the signal fires: each change lets waiting tags take a freed lock. */
async function takeFreedLocks<T extends Target>(share: TagShare<T>, locks: { store: KVWatcher; prefix: string }, signal: AbortSignal, logger: Logger): Promise<void> {
  const onError = (err: unknown, attempt: number, delayMs: number) => logger.debug(`reading the locks under ${locks.prefix}: attempt ${attempt} failed (${(err as Error).message}); next in ${delayMs} ms`);
  try {
    for await (const snap of watchPrefix(locks.store, locks.prefix, { signal, onError })) {
      share.takeFree(new Set(snap.pairs.filter((p) => p.session).map((p) => p.key.slice(locks.prefix.length))));
    }
  } catch (err) {
    // Only a faster take-over is lost: every tag still tries its lock on each pass.
    withFields(logger, { code: 'LOCK_WATCH_FAILED', err }).warn(`stopped following the locks under ${locks.prefix}: ${(err as Error).message}`);
  }
}

function tell<T extends Target>(o: SharedTagCheckersOptions<T>, view: MemberView, mine: ReadonlySet<string> | readonly string[], change: ShareChange): void {
  const held = new Set(mine).size;
  if (!change.started.length && !change.stopped.length) return;
  const self = view.peers.includes(o.membership.id);
  const log = withFields(o.logger, { outcome: 'assignment' });
  if (!self) {
    withFields(log, { code: 'NOT_A_MEMBER' }).warn(`${o.bin}: this checker's key ${o.membership.key} is not in the store (not written yet, refused or expired) or the members cannot be read: checking all ${held} tags, a standby where another checker holds the lock`);
    return;
  }
  const who = `${view.peers.length} checker(s) share ${new Set(o.tags).size} tags`;
  // Alone (one host, the usual case) there is nothing to tell at info: it checks every tag, as ever.
  log[view.peers.length > 1 ? 'info' : 'debug'](`${o.bin}: ${who}; this one checks ${held} (took ${change.started.length}, handed off ${change.stopped.length})`);
  log.debug(`${o.bin}: took ${change.started.join(', ') || 'none'}; handed off ${change.stopped.join(', ') || 'none'}`);
}
