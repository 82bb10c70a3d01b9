// etcd v3 behind the same seam, on the `etcd3` client: prefix reads, watches from a revision
// (a compacted revision means a fresh read), CAS through transactions on mod_revision, and locks
// on leases. etcd has no lock-delay, so a second key on a longer lease (TTL + delay) plays it.
import { Etcd3, type Lease } from 'etcd3';
import { KVError, throwIfAborted } from '../errors.js';
import { sleep } from '../backoff.js';
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

export interface EtcdStoreOptions {
  /** http://host:port, several allowed (the -node flags). Default http://127.0.0.1:2379. */
  nodes?: string[];
  /** Per-request deadline (ms). Default 10 s. */
  timeoutMs?: number;
}

const DELAY_SUFFIX = '\u0000lock-delay';

function toError(what: string, err: unknown): KVError {
  const e = err as { message?: string; code?: number; details?: string };
  const msg = e.message ?? String(err);
  if (/permission denied|PermissionDenied/i.test(msg)) return new KVError('KV_FORBIDDEN', `etcd: ${what}: permission denied (${msg})`, { cause: err });
  if (/Unavailable|ECONNREFUSED|connect|deadline|timed out|No connection/i.test(msg)) return new KVError('KV_UNREACHABLE', `etcd: ${what}: ${msg}`, { cause: err });
  if (/too large|request is too large/i.test(msg)) return new KVError('KV_BAD_REQUEST', `etcd: ${what}: ${msg}`, { cause: err });
  return new KVError('KV_SERVER', `etcd: ${what}: ${msg}`, { cause: err });
}

export function createEtcdStore(opts: EtcdStoreOptions = {}): KVStore {
  const nodes = opts.nodes?.length ? opts.nodes : ['http://127.0.0.1:2379'];
  const hosts = nodes.map((n) => (/^[a-z]+:\/\//.test(n) ? n : `http://${n}`));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const client = new Etcd3({ hosts, dialTimeout: timeoutMs });
  const deadline = () => ({ deadline: Date.now() + timeoutMs });

  const call = async <T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> => {
    throwIfAborted(signal);
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw new KVError('KV_ABORTED', 'aborted', { cause: signal.reason });
      throw toError(what, err);
    }
  };

  const toPair = (kv: { key: Buffer; value: Buffer; mod_revision: string; create_revision: string; lease: string }): KVPair => ({
    key: kv.key.toString(),
    value: kv.value.toString(),
    modifyIndex: Number(kv.mod_revision),
    createIndex: Number(kv.create_revision),
    flags: 0,
    ...(kv.lease && kv.lease !== '0' ? { session: kv.lease } : {}),
  });

  const list = (prefix: string, signal?: AbortSignal): Promise<KVSnapshot> =>
    call(`list "${prefix}"`, signal, async () => {
      const res = await client.getAll().prefix(prefix).options(deadline()).exec();
      const pairs = res.kvs.map(toPair).filter((p) => !p.key.endsWith(DELAY_SUFFIX));
      pairs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return { index: Math.max(1, Number(res.header.revision)), pairs, knownLeader: true };
    });

  const store: KVStore = {
    describe: `etcd ${hosts.join(',')}`,
    list: (prefix, o?: KVReadOptions) => list(prefix, o?.signal),

    async watch(prefix: string, since: KVIndex, o: KVWatchOptions): Promise<KVSnapshot> {
      if (!(since > 0)) return list(prefix, o.signal);
      throwIfAborted(o.signal);
      const waitMs = o.waitMs ?? 60_000;
      // Replays every change under the prefix after `since`: none missed, none waited for twice.
      // Built before it connects, so a start revision etcd cancels at once (compacted) is seen too.
      const watcher = client.watch().prefix(prefix).startRevision(String(since + 1)).watcher();
      // A watcher etcd cancelled (compacted revision) is gone: cancelling it again would wait forever.
      let gone = false;
      try {
        await new Promise<void>((done) => {
          const finish = () => {
            clearTimeout(timer);
            o.signal.removeEventListener('abort', finish);
            done();
          };
          const timer = setTimeout(finish, waitMs);
          o.signal.addEventListener('abort', finish, { once: true });
          watcher.on('data', finish);
          // A compacted start revision: the caller simply gets a fresh read.
          watcher.on('error', () => {
            gone = true;
            finish();
          });
          watcher.on('end', () => {
            gone = true;
            finish();
          });
        });
      } finally {
        if (!gone) await Promise.race([watcher.cancel().catch(() => {}), sleep(2000)]);
      }
      throwIfAborted(o.signal);
      return list(prefix, o.signal);
    },

    get: (key: string, o?: KVReadOptions) =>
      call(`get "${key}"`, o?.signal, async () => {
        const res = await client.get(key).options(deadline()).exec();
        const kv = res.kvs[0];
        return kv ? toPair(kv) : undefined;
      }),

    put: (key: string, value: string, o: KVPutOptions = {}) =>
      call(`put "${key}"`, o.signal, async () => {
        if (o.cas === undefined) {
          await client.put(key).value(value).options(deadline()).exec();
          return true;
        }
        const cmp = o.cas === 0 ? client.if(key, 'Create', '==', 0) : client.if(key, 'Mod', '==', o.cas);
        const res = await cmp.then(client.put(key).value(value)).options(deadline()).commit();
        return res.succeeded;
      }),

    delete: (key: string, o: KVDeleteOptions = {}) =>
      call(`delete "${key}"`, o.signal, async () => {
        if (o.cas === undefined || o.cas === 0) {
          await client.delete().key(key).options(deadline()).exec();
          return true;
        }
        const res = await client.if(key, 'Mod', '==', o.cas).then(client.delete().key(key)).options(deadline()).commit();
        return res.succeeded;
      }),

    async acquireLock(key: string, o: KVLockOptions): Promise<KVLock | undefined> {
      const ttl = Math.max(1, Math.ceil((o.ttlMs ?? 15_000) / 1000));
      const delay = Math.ceil((o.lockDelayMs ?? 15_000) / 1000);
      const delayKey = key + DELAY_SUFFIX;
      const lease: Lease = client.lease(ttl, { autoKeepAlive: false });
      const delayLease: Lease | undefined = delay > 0 ? client.lease(ttl + delay, { autoKeepAlive: false }) : undefined;
      const revokeAll = async () => {
        await Promise.all([lease.revoke().catch(() => {}), delayLease?.revoke().catch(() => {})]);
      };
      let got: boolean;
      try {
        const id = await lease.grant();
        const delayId = delayLease ? await delayLease.grant() : undefined;
        const res = await client
          .if(key, 'Create', '==', 0)
          .and(delayKey, 'Create', '==', 0)
          .then(client.put(key).value(o.holder).lease(id), ...(delayId ? [client.put(delayKey).value(o.holder).lease(delayId)] : []))
          .options(deadline())
          .commit();
        got = res.succeeded;
      } catch (err) {
        await revokeAll();
        throw toError(`acquire "${key}"`, err);
      }
      if (!got) {
        await revokeAll();
        return undefined;
      }
      const session = await lease.grant();
      return {
        key,
        session,
        holder: o.holder,
        renew: async () => {
          try {
            await Promise.all([lease.keepaliveOnce(), delayLease?.keepaliveOnce()]);
          } catch {
            return false;
          }
          const now = await store.get(key).catch(() => undefined);
          return now?.session === session;
        },
        update: async (value: string) => {
          try {
            const res = await client.if(key, 'Lease', '==', session).then(client.put(key).value(value).lease(session)).options(deadline()).commit();
            return res.succeeded;
          } catch (err) {
            throw toError(`update "${key}"`, err);
          }
        },
        release: async () => {
          // An explicit release leaves no lock-delay, as in Consul.
          await client.delete().key(delayKey).exec().catch(() => {});
          await revokeAll();
        },
      };
    },

    async close() {
      client.close();
    },
  };
  return store;
}
