// The embedded store: one JSON file, safe for several processes at once. Writes take a
// cross-process mutex, re-read the file, change it and replace it atomically; watches are
// driven by file events with a slow poll behind them, so no write is ever missed.
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KVError, throwIfAborted } from '../errors.js';
import { DEFAULT_LOCK_DELAY_MS, DEFAULT_LOCK_TTL_MS, DEFAULT_WATCH_WAIT_MS } from '../types.js';
import type { KVDeleteOptions, KVIndex, KVLock, KVLockOptions, KVPair, KVPutOptions, KVReadOptions, KVSnapshot, KVStore, KVWatchOptions } from '../types.js';
import { FileChanges } from './changes.js';
import { atomicWrite, withFileMutex } from './io.js';
import {
  deleteValue,
  emptyState,
  expireSessions,
  nextIndex,
  pairOf,
  parseState,
  serializeState,
  setValue,
  snapshotOf,
  type State,
} from './state.js';

export interface FileStoreOptions {
  /** Path of the JSON file; created on the first write when missing. */
  file: string;
  /** How long a write waits for another process's mutex before failing (ms). Default 10 s. */
  mutexTimeoutMs?: number;
  /** Safety poll behind file events (ms). Default 1000. */
  pollMs?: number;
}

interface QueuedChange {
  change: (state: State, now: number) => { write: boolean; result: unknown };
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export function createFileStore(opts: FileStoreOptions): KVStore {
  if (!opts.file) throw new KVError('KV_CONFIG', 'the file backend needs a file (--file kv.json)');
  return new FileStore(resolve(opts.file), opts);
}

class FileStore implements KVStore {
  readonly backend = 'file';
  readonly describe: string;
  readonly #file: string;
  readonly #mutexTimeoutMs: number;
  readonly #changes: FileChanges;
  #cache: { stamp: string; state: State } | undefined;
  #reading: { stamp: string; state: Promise<State> } | undefined;
  readonly #queue: QueuedChange[] = [];
  #flushing: Promise<void> | undefined;

  constructor(file: string, opts: FileStoreOptions) {
    this.#file = file;
    this.describe = `file ${opts.file}`;
    this.#mutexTimeoutMs = opts.mutexTimeoutMs ?? 10_000;
    this.#changes = new FileChanges(file, opts.pollMs ?? 1000);
  }

  async #read(): Promise<State> {
    let text: string;
    let mtimeMs: number;
    try {
      const [t, s] = await Promise.all([readFile(this.#file, 'utf8'), stat(this.#file)]);
      text = t;
      mtimeMs = s.mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw new KVError('KV_UNREACHABLE', `${this.#file}: cannot read (${(err as Error).message})`, { cause: err });
    }
    return parseState(text, this.#file, mtimeMs);
  }

  /**
   * For reads only (never mutated): the parsed file, re-parsed only when its inode, mtime or size
   * changed. Every write replaces the file by rename, so the inode alone tells a new version.
   */
  async #readShared(): Promise<State> {
    let stamp: string;
    try {
      // Synchronous: a local stat is a few µs, the thread-pool round trip of an async one costs ten times that, per read.
      const st = statSync(this.#file);
      stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw new KVError('KV_UNREACHABLE', `${this.#file}: cannot read (${(err as Error).message})`, { cause: err });
    }
    if (this.#cache?.stamp === stamp) return this.#cache.state;
    // Reads that find the same new version share one parse: a checker with many tags reads at once.
    if (this.#reading?.stamp !== stamp) {
      const reading = this.#read();
      this.#reading = { stamp, state: reading };
      reading.then(
        (state) => {
          this.#cache = { stamp, state };
          if (this.#reading?.state === reading) this.#reading = undefined;
        },
        () => {
          if (this.#reading?.state === reading) this.#reading = undefined;
        },
      );
    }
    return this.#reading.state;
  }

  /**
   * Read-modify-write under the cross-process mutex; `change` returns whether to write. Changes
   * queued while one runs are applied together, in order, in one read and one write: hundreds of
   * writers in one process (a checker with many tags) would otherwise poll the mutex against each other.
   */
  #update<T>(change: (state: State, now: number) => { write: boolean; result: T }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ change, resolve: resolve as (v: unknown) => void, reject });
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = (async () => {
      while (this.#queue.length > 0) await this.#commit(this.#queue.splice(0));
    })().finally(() => {
      this.#flushing = undefined;
      // A change queued after the loop's last look and before this line would wait forever.
      if (this.#queue.length > 0) this.#flush();
    });
  }

  /** One batch: every change sees the state the ones before it left; all settle once it is on disk. */
  async #commit(batch: QueuedChange[]): Promise<void> {
    const settled: { op: QueuedChange; ok: boolean; value: unknown }[] = [];
    try {
      await withFileMutex(this.#file, this.#mutexTimeoutMs, async () => {
        const state = await this.#read();
        const now = Date.now();
        let write = expireSessions(state, now);
        for (const op of batch) {
          try {
            const r = op.change(state, now);
            write = write || r.write;
            settled.push({ op, ok: true, value: r.result });
          } catch (err) {
            settled.push({ op, ok: false, value: err });
          }
        }
        if (!write) return;
        try {
          await atomicWrite(this.#file, serializeState(state));
        } catch (err) {
          throw new KVError('KV_UNREACHABLE', `${this.#file}: cannot write (${(err as Error).message})`, { cause: err });
        }
      });
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    for (const { op, ok, value } of settled) (ok ? op.resolve : op.reject)(value);
  }

  async list(prefix: string, opts?: KVReadOptions): Promise<KVSnapshot> {
    throwIfAborted(opts?.signal);
    const state = await this.#readShared();
    return { ...snapshotOf(state, prefix, Date.now()), knownLeader: true };
  }

  async get(key: string, opts?: KVReadOptions): Promise<KVPair | undefined> {
    throwIfAborted(opts?.signal);
    return pairOf(await this.#readShared(), key, Date.now());
  }

  async watch(prefix: string, since: KVIndex, opts: KVWatchOptions): Promise<KVSnapshot> {
    throwIfAborted(opts.signal);
    if (since <= 0) return this.list(prefix);
    const deadline = Date.now() + (opts.waitMs ?? DEFAULT_WATCH_WAIT_MS);
    // Subscribe before reading, so a write between the read and the wait still wakes us.
    const sub = this.#changes.subscribe();
    try {
      for (;;) {
        const snap = await this.list(prefix);
        if (snap.index !== since || Date.now() >= deadline) return snap;
        await sub.next(deadline - Date.now(), opts.signal);
        throwIfAborted(opts.signal);
      }
    } finally {
      sub.close();
    }
  }

  async put(key: string, value: string, opts: KVPutOptions = {}): Promise<boolean> {
    throwIfAborted(opts.signal);
    checkKey(key);
    return this.#update((state) => {
      const current = state.meta.keys[key];
      if (opts.cas !== undefined) {
        const ok = opts.cas === 0 ? !state.values.has(key) : current?.m === opts.cas;
        if (!ok) return { write: false, result: false };
      }
      setValue(state, key, value, opts.flags);
      return { write: true, result: true };
    });
  }

  async delete(key: string, opts: KVDeleteOptions = {}): Promise<boolean> {
    throwIfAborted(opts.signal);
    checkKey(key);
    return this.#update((state) => {
      if (!state.values.has(key)) return { write: false, result: opts.cas === undefined || opts.cas === 0 };
      if (opts.cas !== undefined && state.meta.keys[key]?.m !== opts.cas) return { write: false, result: false };
      deleteValue(state, key);
      return { write: true, result: true };
    });
  }

  async acquireLock(key: string, opts: KVLockOptions): Promise<KVLock | undefined> {
    throwIfAborted(opts.signal);
    checkKey(key);
    const ttlMs = opts.ttlMs ?? DEFAULT_LOCK_TTL_MS;
    const lockDelayMs = opts.lockDelayMs ?? DEFAULT_LOCK_DELAY_MS;
    const session = randomUUID();
    const got = await this.#update((state, now) => {
      const km = state.meta.keys[key];
      const heldBy = km?.s && state.meta.sessions[km.s] ? km.s : undefined;
      const delayed = (state.meta.lockDelays[key] ?? 0) > now;
      if (heldBy || delayed) return { write: false, result: false };
      state.meta.sessions[session] = { holder: opts.holder, key, expires: now + ttlMs, ttlMs, lockDelayMs, ...(opts.behavior === 'delete' ? { del: true as const } : {}) };
      setValue(state, key, opts.holder, undefined);
      state.meta.keys[key]!.s = session;
      return { write: true, result: true };
    });
    if (!got) return undefined;
    return {
      key,
      session,
      holder: opts.holder,
      renew: () =>
        this.#update((state, now) => {
          const s = state.meta.sessions[session];
          if (!s || state.meta.keys[key]?.s !== session) return { write: false, result: false };
          s.expires = now + s.ttlMs;
          return { write: true, result: true };
        }),
      update: (value: string) =>
        this.#update((state) => {
          if (!state.meta.sessions[session] || state.meta.keys[key]?.s !== session) return { write: false, result: false };
          setValue(state, key, value, undefined);
          return { write: true, result: true };
        }),
      release: () =>
        this.#update((state) => {
          const had = state.meta.sessions[session] !== undefined;
          delete state.meta.sessions[session];
          const km = state.meta.keys[key];
          if (km?.s === session) {
            if (opts.behavior === 'delete') deleteValue(state, key);
            else {
              delete km.s;
              km.m = nextIndex(state);
            }
          }
          return { write: had, result: undefined };
        }),
    };
  }

  async close(): Promise<void> {
    await this.#changes.close();
  }
}

function checkKey(key: string): void {
  if (!key || key.startsWith('/')) {
    throw new KVError('KV_BAD_REQUEST', `bad key "${key}": keys are non-empty and do not start with "/"`);
  }
}

