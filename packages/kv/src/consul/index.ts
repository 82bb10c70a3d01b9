// The production store: Consul KV through the npm `consul` client. The token is the client's
// `defaults.token`, which it sends only as the X-Consul-Token header; it never reaches a URL,
// `describe` or an error message.
import { EventEmitter } from 'node:events';
import { Agent as HttpsAgent } from 'node:https';
import Consul from 'consul';
import { KVError, throwIfAborted } from '../errors.js';
import type {
  KVDeleteOptions,
  KVIndex,
  KVLock,
  KVLockOptions,
  KVPair,
  KVPutOptions,
  KVReadOptions,
  KVSnapshot,
  KVStore,
  KVWatchOptions,
} from '../types.js';
import { ConsulCatalog } from './catalog.js';
import { resolveConsulConfig, type ConsulConfig, type ConsulStoreOptions } from './config.js';
import { httpStatusOf, toKVError, type ConsulOp } from './errors.js';

export { parseConsulAddress, resolveConsulConfig } from './config.js';
export type { ConsulAddress, ConsulConfig, ConsulStoreOptions, ConsulTls } from './config.js';

/** Consul refuses session TTLs below 10 s. */
const SESSION_MIN_TTL_MS = 10_000;
const DEFAULT_TTL_MS = 15_000;
const DEFAULT_LOCK_DELAY_MS = 15_000;
const DEFAULT_WAIT_MS = 60_000;

export function createConsulStore(opts: ConsulStoreOptions = {}): KVStore {
  return new ConsulStore(resolveConsulConfig(opts));
}

// --- the slice of the client this backend uses (its typings lack ctx, timeout, index, wait) ---
interface Resp {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
}
/** Per call: `ctx` cancels the request and asks for the response too; `timeout` in ms. */
interface Call {
  ctx: EventEmitter & { includeResponse: true };
  timeout: number;
}
interface ConsulEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  Session?: string;
}
type Answer<T> = Promise<[Resp, T | undefined]>;
interface Client {
  kv: {
    get(o: Call & { key: string; recurse?: boolean; index?: string; wait?: string }): Answer<ConsulEntry | ConsulEntry[]>;
    set(o: Call & { key: string; value: string; cas?: string; flags?: string; acquire?: string; release?: string }): Answer<boolean>;
    del(o: Call & { key: string; cas?: string }): Answer<boolean>;
  };
  session: {
    create(o: Call & { name: string; ttl: string; lockdelay: string; behavior: 'release' | 'delete' }): Answer<{ ID: string }>;
    renew(o: Call & { id: string }): Answer<unknown>;
    destroy(o: Call & { id: string }): Answer<unknown>;
  };
  destroy(): void;
}

function header(res: Resp | undefined, name: string): string | undefined {
  const v = res?.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** X-Consul-Index, never below 1 (an index of 0 would make the next read non-blocking by accident). */
function indexOf(res: Resp | undefined): KVIndex {
  const n = Number(header(res, 'x-consul-index'));
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

function toPair(e: ConsulEntry): KVPair {
  return {
    key: e.Key,
    value: e.Value ?? '',
    modifyIndex: e.ModifyIndex,
    createIndex: e.CreateIndex,
    flags: Number(e.Flags ?? 0),
    ...(e.Session ? { session: e.Session } : {}),
  };
}

class ConsulStore implements KVStore {
  readonly describe: string;
  readonly catalog: ConsulCatalog;
  readonly #config: ConsulConfig;
  readonly #client: Client;
  /** Fires on close(): every request in flight is cancelled. */
  readonly #closing = new AbortController();

  constructor(config: ConsulConfig) {
    this.#config = config;
    this.describe = config.describe;
    this.catalog = new ConsulCatalog(config);
    const { address, token, tls } = config;
    const agent =
      tls &&
      new HttpsAgent({
        keepAlive: true,
        rejectUnauthorized: tls.rejectUnauthorized,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.servername ? { servername: tls.servername } : {}),
      });
    this.#client = new Consul({
      host: address.host.includes(':') ? `[${address.host}]` : address.host,
      port: address.port,
      secure: address.secure,
      ...(agent ? { agent } : {}),
      // The client puts defaults.token into the X-Consul-Token header of every request (lib/utils.js).
      ...(token ? { defaults: { token } } : {}),
    } as ConstructorParameters<typeof Consul>[0]) as unknown as Client;
  }

  /** Run one client call, cancelled by `signal` or close(); its failures become KVErrors about `op`. */
  async #call<T>(op: ConsulOp, signal: AbortSignal | undefined, timeoutMs: number, fn: (call: Call) => Promise<T>): Promise<T> {
    throwIfAborted(signal);
    if (this.#closing.signal.aborted) throw new KVError('KV_ABORTED', `${this.describe}: ${op.what}: the store is closed`);
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true as const });
    const cancel = () => ctx.emit('cancel');
    signal?.addEventListener('abort', cancel, { once: true });
    this.#closing.signal.addEventListener('abort', cancel, { once: true });
    try {
      return await fn({ ctx, timeout: timeoutMs });
    } catch (err) {
      if (signal?.aborted) throw new KVError('KV_ABORTED', `${this.describe}: ${op.what}: aborted`, { cause: signal.reason });
      if (this.#closing.signal.aborted) throw new KVError('KV_ABORTED', `${this.describe}: ${op.what}: the store was closed`);
      throw toKVError(err, op, { describe: this.describe, ...(this.#config.token ? { token: this.#config.token } : {}), timeoutMs });
    } finally {
      signal?.removeEventListener('abort', cancel);
      this.#closing.signal.removeEventListener('abort', cancel);
    }
  }

  async #list(prefix: string, signal: AbortSignal | undefined, block?: { index: KVIndex; waitMs: number }): Promise<KVSnapshot> {
    // A blocking query may be held for wait + wait/16 (Consul's jitter); give it a margin on top.
    const timeoutMs = block ? block.waitMs + Math.ceil(block.waitMs / 16) + 5000 : this.#config.timeoutMs;
    const op = { what: `list "${prefix}"`, access: 'read the keys under', target: prefix };
    const [res, body] = await this.#call(op, signal, timeoutMs, (call) =>
      this.#client.kv.get({ ...call, key: prefix, recurse: true, ...(block ? { index: String(block.index), wait: `${block.waitMs}ms` } : {}) }),
    );
    const pairs = (Array.isArray(body) ? body : []).filter((e) => e.Key.startsWith(prefix)).map(toPair);
    pairs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { index: indexOf(res), pairs, knownLeader: header(res, 'x-consul-knownleader') !== 'false' };
  }

  list(prefix: string, opts?: KVReadOptions): Promise<KVSnapshot> {
    return this.#list(prefix, opts?.signal);
  }

  async watch(prefix: string, since: KVIndex, opts: KVWatchOptions): Promise<KVSnapshot> {
    const index = Math.floor(since);
    // Never send an index of 0 or below: "since nothing" is a plain read.
    if (!(index > 0)) return this.#list(prefix, opts.signal);
    const waitMs = Math.max(1, Math.round(opts.waitMs ?? DEFAULT_WAIT_MS));
    // An answer with an index below `since` (snapshot restore, new leader, tombstones reaped) is
    // a fresh read all the same: the caller continues from its lower index, which resets the watch.
    return this.#list(prefix, opts.signal, { index, waitMs });
  }

  async get(key: string, opts?: KVReadOptions): Promise<KVPair | undefined> {
    const op = { what: `get "${key}"`, access: 'read', target: key };
    const [, body] = await this.#call(op, opts?.signal, this.#config.timeoutMs, (call) => this.#client.kv.get({ ...call, key }));
    return body && !Array.isArray(body) ? toPair(body) : undefined;
  }

  async put(key: string, value: string, opts: KVPutOptions = {}): Promise<boolean> {
    const op = { what: `put "${key}"`, access: 'write', target: key };
    const [, ok] = await this.#call(op, opts.signal, this.#config.timeoutMs, (call) =>
      this.#client.kv.set({
        ...call,
        key,
        value,
        ...(opts.cas !== undefined ? { cas: String(opts.cas) } : {}),
        ...(opts.flags !== undefined ? { flags: String(opts.flags) } : {}),
      }),
    );
    return ok === true;
  }

  async delete(key: string, opts: KVDeleteOptions = {}): Promise<boolean> {
    const op = { what: `delete "${key}"`, access: 'write', target: key };
    const [, ok] = await this.#call(op, opts.signal, this.#config.timeoutMs, (call) =>
      this.#client.kv.del({ ...call, key, ...(opts.cas !== undefined ? { cas: String(opts.cas) } : {}) }),
    );
    return ok === true;
  }

  async acquireLock(key: string, opts: KVLockOptions): Promise<KVLock | undefined> {
    const timeoutMs = this.#config.timeoutMs;
    const ttlS = Math.ceil(Math.max(SESSION_MIN_TTL_MS, opts.ttlMs ?? DEFAULT_TTL_MS) / 1000);
    const lockDelayMs = Math.max(0, Math.round(opts.lockDelayMs ?? DEFAULT_LOCK_DELAY_MS));
    const sessionOp = { what: `create a lock session for "${key}"`, access: 'create sessions for', target: key };
    const [, created] = await this.#call(sessionOp, opts.signal, timeoutMs, (call) =>
      this.#client.session.create({ ...call, name: `confd-haproxy lock ${key}`, ttl: `${ttlS}s`, lockdelay: `${lockDelayMs}ms`, behavior: opts.behavior ?? 'release' }),
    );
    const session = created?.ID;
    if (!session) throw new KVError('KV_SERVER', `${this.describe}: create a lock session for "${key}": the answer had no session ID`);
    const destroy = () =>
      this.#call({ what: `destroy the lock session for "${key}"`, access: 'write sessions for', target: key }, undefined, timeoutMs, (call) =>
        this.#client.session.destroy({ ...call, id: session }),
      );
    let got: boolean;
    try {
      const [, ok] = await this.#call({ what: `acquire the lock "${key}"`, access: 'write', target: key }, opts.signal, timeoutMs, (call) =>
        this.#client.kv.set({ ...call, key, value: opts.holder, acquire: session }),
      );
      got = ok === true;
    } catch (err) {
      await destroy().catch(() => undefined);
      throw err;
    }
    if (!got) {
      await destroy().catch(() => undefined);
      return undefined;
    }
    return {
      key,
      session,
      holder: opts.holder,
      renew: async () => {
        try {
          await this.#call({ what: `renew the lock session for "${key}"`, access: 'write sessions for', target: key }, undefined, timeoutMs, (call) =>
            this.#client.session.renew({ ...call, id: session }),
          );
        } catch (err) {
          // 404: the session expired or was destroyed, and its lock went with it.
          if (httpStatusOf(err) === 404) return false;
          throw err;
        }
        const held = (await this.get(key))?.session === session;
        // The key was taken or deleted while the session lived on: drop the session, it guards nothing.
        if (!held) await destroy().catch(() => undefined);
        return held;
      },
      update: async (value: string) => {
        // Acquiring again with the session that holds the key writes its value (and fails if it does not).
        try {
          const [, ok] = await this.#call({ what: `update the lock "${key}"`, access: 'write', target: key }, undefined, timeoutMs, (call) =>
            this.#client.kv.set({ ...call, key, value, acquire: session }),
          );
          return ok === true;
        } catch (err) {
          // Consul answers 500 "Invalid session" once the session expired or was destroyed.
          if (httpStatusOf(err) === 500 && /invalid session/i.test((err as Error).message)) return false;
          throw err;
        }
      },
      release: async () => {
        let released = false;
        let failure: unknown;
        try {
          // With behavior delete, destroying the session below deletes the key: do not unlock it first.
          if (opts.behavior !== 'delete') {
            await this.#call({ what: `release the lock "${key}"`, access: 'write', target: key }, undefined, timeoutMs, (call) =>
              this.#client.kv.set({ ...call, key, value: opts.holder, release: session }),
            );
          }
          released = true;
        } catch (err) {
          failure = err;
        }
        try {
          // Also frees the key (after lock-delay) when the release itself failed.
          await destroy();
        } catch (err) {
          // Released but not destroyed: the session holds nothing and expires after its TTL.
          if (!released) throw failure ?? err;
        }
      },
    };
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.#client.destroy();
    this.catalog.close();
  }
}
