// Entries own their key: before a resource renders, every entry under its keys claims the listen
// names and ports it would render (@confd-haproxy/schema's entryClaims). Two claims on one name or
// port would make HAProxy share a port between two services, or refuse the whole file; here the
// newer claimant becomes a bad entry instead, and `entry` renders its last good value or leaves it out.
import { entryClaims, entryProblem, ownerProblem, type EntryClaim } from '@confd-haproxy/schema';

/** A stored pair as the template sees it, with the store index that created its key. */
export interface StoredPair {
  key: string;
  value: string;
  /** The store's createIndex (the file store may give 1 to every key). */
  createIndex?: number;
}

/** What `entry` asks about one key before it renders it. */
export interface Ownership {
  /** Why the key's current value must not render although it is a good entry, or undefined. */
  conflict(key: string): string | undefined;
  /** Whether the key's last good value may render in its place: it collides with nothing that renders. */
  lastGoodFree(key: string): boolean;
}

/** One key that claims something: from its current value, or from its last good one when the current is bad. */
interface Claimant {
  key: string;
  createIndex: number;
  claims: EntryClaim[];
  fromLastGood: boolean;
  /** The claims of its last good value, when it has a good one. */
  lastGood: EntryClaim[] | undefined;
}

/** The claims of `value` under `key`, or undefined when it is not a good entry of that key. */
function claimsOf(key: string, value: string | undefined): EntryClaim[] | undefined {
  if (value === undefined) return undefined;
  let e: unknown;
  try {
    e = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (entryProblem(e, 'read') !== undefined) return undefined;
  const entry = e as Parameters<typeof entryClaims>[1];
  return ownerProblem(key, entry) === undefined ? entryClaims(key, entry) : undefined;
}

/** A value and its claims, as one decision read them. */
interface Read {
  value: string;
  claims: EntryClaim[] | undefined;
}

/**
 * The claims of the values one decision read, kept for the next: a store that did not change is not
 * parsed again on every render (10,000 entries cost ~70–170 ms of JSON.parse and checks each time).
 * Only what the last decision read is kept: per key its current value and its last good one.
 */
export class ClaimCache {
  #last = { current: new Map<string, Read>(), lastGood: new Map<string, Read>() };
  #now = { current: new Map<string, Read>(), lastGood: new Map<string, Read>() };

  /** claimsOf(key, value), parsed once while the key's value in that role stays the same. */
  of(key: string, value: string | undefined, role: 'current' | 'lastGood'): EntryClaim[] | undefined {
    if (value === undefined) return undefined;
    const before = this.#last[role].get(key);
    const read = before?.value === value ? before : { value, claims: claimsOf(key, value) };
    this.#now[role].set(key, read);
    return read.claims;
  }

  /** One decision is over: what it did not read is forgotten. */
  settle(): void {
    this.#last = this.#now;
    this.#now = { current: new Map(), lastGood: new Map() };
  }
}

// Dot folders (haproxy/.status, .maint, .locks, .config) hold no entries: a value there claims nothing.
const inDotFolder = (key: string) => /(?:^|\/)\./.test(key);

function claimant(pair: StoredPair, lastGood: string | undefined, cache: ClaimCache): Claimant | undefined {
  if (inDotFolder(pair.key)) return undefined;
  const current = cache.of(pair.key, pair.value, 'current');
  const good = lastGood === pair.value ? current : cache.of(pair.key, lastGood, 'lastGood');
  const claims = current ?? good;
  if (!claims) return undefined;
  return { key: pair.key, createIndex: pair.createIndex ?? 0, claims, fromLastGood: current === undefined, lastGood: good };
}

/** Older keys first (lower createIndex), then by key: who keeps a claim nobody served last time. */
const bySeniority = (a: Claimant, b: Claimant) => a.createIndex - b.createIndex || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Who served each claim in the last good render and still claims it: the first holder by seniority. */
function holders(claimants: readonly Claimant[]): Map<string, string> {
  const held = new Map<string, string>();
  for (const c of claimants) {
    const had = new Set(c.lastGood?.map((x) => x.id));
    for (const x of c.claims) if (had.has(x.id) && !held.has(x.id)) held.set(x.id, c.key);
  }
  return held;
}

/** The claims given so far in one render, and by whom; a claim held last time is reserved for its holder. */
class Served {
  readonly #by = new Map<string, { key: string; held: boolean }>();
  readonly #held: ReadonlyMap<string, string>;

  constructor(held: ReadonlyMap<string, string>) {
    this.#held = held;
  }

  /** Why `claims` cannot render for `key`: the first one another key holds or was given first. */
  clash(key: string, claims: readonly EntryClaim[]): string | undefined {
    for (const x of claims) {
      const other = this.#by.get(x.id);
      if (other && other.key !== key) return other.held ? `${x.what} is already served by ${other.key}` : `${x.what} is also claimed by ${other.key}, an older key, which keeps it`;
      const holder = this.#held.get(x.id);
      if (holder !== undefined && holder !== key) return `${x.what} is already served by ${holder}`;
    }
    return undefined;
  }

  /** Like clash, but only against what is given already (a last good value served it before too). */
  taken(key: string, claims: readonly EntryClaim[]): boolean {
    return claims.some((x) => {
      const other = this.#by.get(x.id);
      return other !== undefined && other.key !== key;
    });
  }

  give(key: string, claims: readonly EntryClaim[]): void {
    for (const x of claims) if (!this.#by.has(x.id)) this.#by.set(x.id, { key, held: this.#held.get(x.id) === key });
  }
}

/**
 * Who keeps each listen name and port of one render. The newer claimant loses: a key whose last
 * good value served a name or port keeps it against any key that claims it anew; between keys
 * that both or neither served it, the older key (lower store createIndex, then key order) keeps
 * it. A loser's last good value renders instead only if it collides with nothing that renders.
 */
export function decideOwnership(pairs: readonly StoredPair[], lastGood: Readonly<Record<string, string>>, cache = new ClaimCache()): Ownership {
  const claimants = pairs.flatMap((p) => claimant(p, lastGood[p.key], cache) ?? []).sort(bySeniority);
  cache.settle();
  const served = new Served(holders(claimants));
  const conflicts = new Map<string, string>();
  const free = new Set<string>();
  for (const c of claimants) {
    const clash = served.clash(c.key, c.claims);
    if (clash !== undefined) conflicts.set(c.key, clash);
    else {
      served.give(c.key, c.claims);
      if (c.fromLastGood) free.add(c.key);
    }
  }
  // Refused current values fall back to last good values that still collide with nothing.
  for (const c of claimants) {
    if (!conflicts.has(c.key) || c.fromLastGood || !c.lastGood || served.taken(c.key, c.lastGood)) continue;
    served.give(c.key, c.lastGood);
    free.add(c.key);
  }
  return {
    conflict: (key) => conflicts.get(key),
    lastGoodFree: (key) => free.has(key),
  };
}
