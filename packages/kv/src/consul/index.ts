// The production store: Consul KV through the npm `consul` client. The token is the client's
// `defaults.token`, which it sends only as the X-Consul-Token header; it never reaches a URL,
// `describe` or an error message.
import { KVError } from '../errors.js';
import { byKey, DEFAULT_LOCK_DELAY_MS, DEFAULT_LOCK_TTL_MS } from '../types.js';
import type { KVDeleteOptions, KVIndex, KVLock, KVLockOptions, KVPair, KVPutOptions, KVReadOptions, KVSnapshot, KVStore, KVWatchOptions } from '../types.js';
import { ConsulCatalog } from './catalog.js';
import { resolveConsulConfig, type ConsulConfig, type ConsulStoreOptions } from './config.js';
import { blockFrom, blockingTimeoutMs, ConsulConnection, header, indexOf, type Answer, type Call } from './client.js';
import { httpStatusOf } from './errors.js';

export { CONSUL_DEFAULT_ADDRESS, CONSUL_SESSION_TTL_MIN_MS, parseConsulAddress, resolveConsulConfig } from './config.js';
export type { ConsulAddress, ConsulConfig, ConsulStoreOptions, ConsulTls } from './config.js';

export function createConsulStore(opts: ConsulStoreOptions = {}): KVStore {
  return new ConsulStore(resolveConsulConfig(opts));
}

// --- the slice of the client this backend uses ---
interface ConsulEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  Session?: string;
}
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
  readonly backend = 'consul';
  readonly describe: string;
  readonly catalog: ConsulCatalog;
  readonly #config: ConsulConfig;
  readonly #consul: ConsulConnection<Client>;

  constructor(config: ConsulConfig) {
    this.#config = config;
    this.describe = config.describe;
    this.catalog = new ConsulCatalog(config);
    this.#consul = new ConsulConnection<Client>(config);
  }

  async #list(prefix: string, signal: AbortSignal | undefined, block?: { index: KVIndex; waitMs: number }): Promise<KVSnapshot> {
    const timeoutMs = blockingTimeoutMs(block, this.#config.timeoutMs);
    const op = { what: `list "${prefix}"`, access: 'read the keys under', target: prefix };
    const [res, body] = await this.#consul.read(op, signal, timeoutMs, block, (call) =>
      this.#consul.client.kv.get({ ...call, key: prefix, recurse: true, ...(block ? { index: String(block.index), wait: `${block.waitMs}ms` } : {}) }),
    );
    const pairs = (Array.isArray(body) ? body : []).filter((e) => e.Key.startsWith(prefix)).map(toPair);
    pairs.sort(byKey);
    return { index: indexOf(res), pairs, knownLeader: header(res, 'x-consul-knownleader') !== 'false' };
  }

  list(prefix: string, opts?: KVReadOptions): Promise<KVSnapshot> {
    return this.#list(prefix, opts?.signal);
  }

  async watch(prefix: string, since: KVIndex, opts: KVWatchOptions): Promise<KVSnapshot> {
    // An answer with an index below `since` (snapshot restore, new leader, tombstones reaped) is
    // a fresh read all the same: the caller continues from its lower index, which resets the watch.
    return this.#list(prefix, opts.signal, blockFrom(since, opts.waitMs));
  }

  async get(key: string, opts?: KVReadOptions): Promise<KVPair | undefined> {
    const op = { what: `get "${key}"`, access: 'read', target: key };
    const [, body] = await this.#consul.read(op, opts?.signal, this.#config.timeoutMs, undefined, (call) => this.#consul.client.kv.get({ ...call, key }));
    return body && !Array.isArray(body) ? toPair(body) : undefined;
  }

  async put(key: string, value: string, opts: KVPutOptions = {}): Promise<boolean> {
    const op = { what: `put "${key}"`, access: 'write', target: key };
    const [, ok] = await this.#consul.call(op, opts.signal, this.#config.timeoutMs, (call) =>
      this.#consul.client.kv.set({
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
    const [, ok] = await this.#consul.call(op, opts.signal, this.#config.timeoutMs, (call) =>
      this.#consul.client.kv.del({ ...call, key, ...(opts.cas !== undefined ? { cas: String(opts.cas) } : {}) }),
    );
    return ok === true;
  }

  async acquireLock(key: string, opts: KVLockOptions): Promise<KVLock | undefined> {
    const timeoutMs = this.#config.timeoutMs;
    // An agent refuses a TTL below its session_ttl_min, so raise it there; whole seconds, as before.
    const ttlS = Math.ceil(Math.max(this.#config.sessionTtlMinMs, opts.ttlMs ?? DEFAULT_LOCK_TTL_MS) / 1000);
    const lockDelayMs = Math.max(0, Math.round(opts.lockDelayMs ?? DEFAULT_LOCK_DELAY_MS));
    const sessionOp = { what: `create a lock session for "${key}"`, access: "create a session (session write on the agent's node) for the lock", target: key };
    const [, created] = await this.#consul.call(sessionOp, opts.signal, timeoutMs, (call) =>
      this.#consul.client.session.create({ ...call, name: `confd-haproxy lock ${key}`, ttl: `${ttlS}s`, lockdelay: `${lockDelayMs}ms`, behavior: opts.behavior ?? 'release' }),
    );
    const session = created?.ID;
    if (!session) throw new KVError('KV_SERVER', `${this.describe}: create a lock session for "${key}": the answer had no session ID`);
    const destroy = () =>
      this.#consul.call({ what: `destroy the lock session for "${key}"`, access: "write its session (session write on the agent's node) for the lock", target: key }, undefined, timeoutMs, (call) =>
        this.#consul.client.session.destroy({ ...call, id: session }),
      );
    let got: boolean;
    try {
      const [, ok] = await this.#consul.call({ what: `acquire the lock "${key}"`, access: 'write', target: key }, opts.signal, timeoutMs, (call) =>
        this.#consul.client.kv.set({ ...call, key, value: opts.holder, acquire: session }),
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
          await this.#consul.call({ what: `renew the lock session for "${key}"`, access: "write its session (session write on the agent's node) for the lock", target: key }, undefined, timeoutMs, (call) =>
            this.#consul.client.session.renew({ ...call, id: session }),
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
          const [, ok] = await this.#consul.call({ what: `update the lock "${key}"`, access: 'write', target: key }, undefined, timeoutMs, (call) =>
            this.#consul.client.kv.set({ ...call, key, value, acquire: session }),
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
            await this.#consul.call({ what: `release the lock "${key}"`, access: 'write', target: key }, undefined, timeoutMs, (call) =>
              this.#consul.client.kv.set({ ...call, key, value: opts.holder, release: session }),
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
    this.#consul.close();
    this.catalog.close();
  }
}
