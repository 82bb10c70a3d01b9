// The double's replicated state, where reading starts: the KV table with its tombstones, the
// sessions and lock-delays, and the Raft and KV indexes. Every other file works on it.

export interface Entry {
  value: Buffer;
  flags: string;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  session?: string;
}

export interface Session {
  id: string;
  name: string;
  /** The node it belongs to (the agent's, unless the request named one): its ACL segment. */
  node: string;
  /** Its node checks (serfHealth unless the request named others). */
  checks: string[];
  /** The TTL as the client wrote it ("" for none): Consul keeps and shows the text. */
  ttl: string;
  ttlMs: number;
  lockDelayMs: number;
  behavior: 'release' | 'delete';
  createIndex: number;
  timer?: NodeJS.Timeout;
}

export const byKey = <T>([a]: [string, T], [b]: [string, T]) => (a < b ? -1 : a > b ? 1 : 0);

export class State {
  readonly kv = new Map<string, Entry>();
  readonly tombstones = new Map<string, number>();
  readonly sessions = new Map<string, Session>();
  /** Key → the time (ms) its lock-delay ends. */
  readonly lockDelays = new Map<string, number>();
  /** The Raft index: every write takes the next one. */
  raftIndex = 1;
  /** The KV table's index: the last write that changed a key or a tombstone. */
  kvIndex = 1;

  /** Take the next Raft index. */
  bump(): number {
    return ++this.raftIndex;
  }

  /** Consul's index of a read: the key's ModifyIndex, or for a list the highest under the prefix (tombstones included), else the table's. */
  readIndex(key: string, list: boolean): number {
    if (!list) return this.kv.get(key)?.modifyIndex ?? this.kvIndex;
    if (key === '') return this.kvIndex;
    let idx = 0;
    for (const [k, e] of this.kv) if (k.startsWith(key)) idx = Math.max(idx, e.modifyIndex);
    for (const [k, i] of this.tombstones) if (k.startsWith(key)) idx = Math.max(idx, i);
    return idx || this.kvIndex;
  }

  /** A snapshot restore of the KV table: keys renumbered in order, tombstones gone; the Raft index it leaves. */
  resetIndex(): number {
    let i = 0;
    for (const [, e] of [...this.kv].sort(byKey)) {
      e.modifyIndex = ++i;
      e.createIndex = Math.min(e.createIndex, i);
    }
    this.tombstones.clear();
    this.raftIndex = this.kvIndex = Math.max(1, i);
    return this.raftIndex;
  }
}
