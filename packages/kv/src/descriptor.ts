// What a store backend declares once, and everything above the seam reads: the flags it takes (with
// every spelling the bins and confd accept), the confd.toml settings they come from, how flags
// become its options, what it can do, and how it opens. Start reading the store seam here (with
// types.ts): this file imports nothing local but types.
import type { KVLocker, KVReader, KVStore, KVWatcher, KVWriter, KVInfo } from './types.js';

/** What a store can do. A checker needs all four; the renderer needs read and watch. */
export type StoreCapability = 'read' | 'watch' | 'write' | 'lock';
export const WRITE_CAPABILITIES: readonly StoreCapability[] = ['write', 'lock'];

/** A store that only reads and watches (a read-only backend implements just this). */
export interface KVReadStore extends KVInfo, KVReader, KVWatcher {
  close(): Promise<void>;
}

/** One store flag. `key` names its value; `names` are its spellings, the first the one help shows. */
export interface StoreFlagSpec {
  key: string;
  /** "--auth-token", "--token": every spelling works (the renderer's confd names, the checkers' older ones). */
  names: readonly string[];
  /** "<token>"; absent for a switch. */
  arg?: string;
  help: string;
  /** Repeatable; `split` also splits each value at commas. */
  repeatable?: boolean;
  split?: boolean;
  /** The value is a file whose first line is the real value (--etcd-password-file); the CLI reads it. */
  fromFile?: boolean;
  /** Its confd.toml setting, when confd has one. */
  toml?: { name: string; type: 'string' | 'boolean' | 'strings' };
}

/** The store flags given, by key: a string, a list, or true. */
export type StoreFlagValues = Readonly<Record<string, string | readonly string[] | boolean | undefined>>;

export interface StoreDescriptor<O extends { backend: string } = { backend: string }> {
  /** As --backend names it. */
  backend: O['backend'];
  flags: readonly StoreFlagSpec[];
  /** The flags given (only those this store takes) → its options; a bad combination throws a UsageError naming the flags. */
  options(flags: StoreFlagValues, env: NodeJS.ProcessEnv): O;
  /** What a store opened with these options can do. */
  capabilities(o: O): readonly StoreCapability[];
  /** Open it: a full KVStore when it can write and lock, a KVReadStore otherwise. */
  open(o: O): KVReadStore | KVStore;
}

/** A store that can also write and lock: what a checker needs. */
export type KVWritableStore = KVReadStore & KVWriter & KVLocker;
