// The live checkers of a kind, through the store. Each process holds one key,
// haproxy/.checkers/<kind>/<host:pid>, on its own session (Consul) or lease (etcd) with behavior
// 'delete': the key lives as long as the process renews it, and a dead process's key goes when its
// TTL runs out. The keys under the prefix are the members. A key's value names the member's tag
// list (a digest): only members with the same list share its tags, since two lists would cut the
// tags two ways and could leave a tag to nobody.
import { createHash } from 'node:crypto';
import type { Logger } from '@confd-haproxy/base';
import { isKVError, LiveKey, watchPrefix, withFields, type KVLocker, type KVPair, type KVReader, type KVWatcher, type KVWriter } from '@confd-haproxy/kv';
import { membersPrefix } from '@confd-haproxy/schema';

/** What a member's key holds. */
export interface MemberInfo {
  /** "host:pid", as in its entries and locks. */
  checker: string;
  /** tagListDigest of its tags. */
  tags: string;
  /** How many tags it was started with. */
  count: number;
}

/** Who shares with this process, as one read of the prefix shows it. */
export interface MemberView {
  /** Members with this process's tag list, this one included while its key is there; sorted. */
  peers: string[];
  /** Members started with another tag list (they check theirs, this process its own); sorted. */
  strangers: string[];
}

/** The same for the same set of tags, whatever their order. */
export function tagListDigest(tags: readonly string[]): string {
  return createHash('sha256').update([...new Set(tags)].sort().join('\n')).digest('hex').slice(0, 16);
}

/** The view from the keys under the prefix: a key whose value is not a MemberInfo counts as a stranger. */
export function readMembers(pairs: readonly KVPair[], prefix: string, digest: string): MemberView {
  const peers: string[] = [];
  const strangers: string[] = [];
  for (const p of pairs) {
    const id = p.key.slice(prefix.length);
    if (!id || id.includes('/')) continue;
    (memberInfo(p.value)?.tags === digest ? peers : strangers).push(id);
  }
  return { peers: peers.sort(), strangers: strangers.sort() };
}

function memberInfo(value: string): MemberInfo | undefined {
  try {
    const v = JSON.parse(value) as Partial<MemberInfo>;
    return typeof v?.checker === 'string' && typeof v.tags === 'string' && typeof v.count === 'number' ? (v as MemberInfo) : undefined;
  } catch {
    return undefined;
  }
}

export interface MembershipOptions {
  store: KVReader & KVWatcher & KVWriter & KVLocker;
  /** The kind's key segment ("mysqlslave"). */
  kind: string;
  /** The renderer's --prefix. */
  prefix?: string;
  /** "host:pid": this member's id. */
  checker: string;
  tags: readonly string[];
  /** The member key's session TTL (ms), renewed every TTL/3: the checkers' --lock-ttl. */
  ttlMs: number;
  logger: Logger;
}

/** One process's member key: taken, renewed, taken again once lost, handed back on leave(). */
export class Membership {
  readonly prefix: string;
  readonly key: string;
  readonly digest: string;
  readonly #o: MembershipOptions;
  #live: LiveKey | undefined;
  /** The store failing: told once, until a join or renew succeeds. */
  #failing = false;

  constructor(o: MembershipOptions) {
    this.#o = o;
    this.prefix = membersPrefix(o.kind, o.prefix);
    this.key = `${this.prefix}${o.checker}`;
    this.digest = tagListDigest(o.tags);
  }

  get id(): string {
    return this.#o.checker;
  }

  /** Take the key now, then keep it: renewed every TTL/3, taken again when lost. */
  start(): Promise<void> {
    const o = this.#o;
    this.#live ??= new LiveKey(o.store, this.key, {
      ttlMs: o.ttlMs,
      minPeriodMs: 50,
      onError: (err) => this.#failed(err),
      onLost: () => withFields(o.logger, { code: 'MEMBER_KEY_LOST' }).warn(`the checker key ${this.key} expired (the store lost its session); the others take this checker's tags until it is back`),
      onHeld: () => this.#held(),
    });
    return this.#live.set(JSON.stringify({ checker: o.checker, tags: this.digest, count: new Set(o.tags).size } satisfies MemberInfo));
  }

  #failed(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    withFields(this.#o.logger, { code: 'MEMBER_KEY_FAILED', err }).warn(`cannot keep the checker key ${this.key} (${(err as Error).message}); trying again every ${Math.floor(this.#o.ttlMs / 3)} ms`);
  }

  #held(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#o.logger.info(`holding the checker key ${this.key} again`);
  }

  /**
   * The member view at once, then one per change of the prefix, until the signal fires (store
   * failures are retried with back-off). `forbidden` is told when the store refuses the read itself
   * (an etcd role or Consul token without the rule): no view may come then.
   */
  async *views(signal: AbortSignal, forbidden?: (err: unknown) => void): AsyncGenerator<MemberView> {
    const onError = (err: unknown, attempt: number, delayMs: number) => {
      if (isKVError(err, 'KV_FORBIDDEN')) forbidden?.(err);
      if (attempt === 1) withFields(this.#o.logger, { code: 'MEMBERS_READ_FAILED', err }).warn(`cannot read the checkers under ${this.prefix} (${(err as Error).message}); keeping the tags held, retrying`);
      else this.#o.logger.debug(`reading ${this.prefix}: attempt ${attempt} failed; next in ${delayMs} ms`);
    };
    for await (const snap of watchPrefix(this.#o.store, this.prefix, { signal, onError })) yield readMembers(snap.pairs, this.prefix, this.digest);
  }

  /** Stop renewing and delete the key (its session ends): the others take this process's tags at once. */
  async leave(): Promise<void> {
    await this.#live?.close();
  }
}
