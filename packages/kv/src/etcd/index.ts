// etcd v3 behind the same seam, on the `etcd3` client: prefix reads, watches from a revision
// (a compacted revision means a fresh read), CAS through transactions on mod_revision, and locks
// on leases. etcd has no lock-delay, so a second key on a longer lease (TTL + delay) plays it.
// A leased key goes with its lease, so a lock that keeps its key (behavior "release", as Consul)
// writes the key without a lease and holds a companion key on the lease instead.
// Keys live in etcd as confd reads them: the seam's "haproxy/x" is etcd's "/haproxy/x".
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Etcd3, IOptions, Lease } from 'etcd3';
import { KVError, throwIfAborted, type KVErrorCode } from '../errors.js';
import { READ_RETRY } from '../retry.js';
import { PrefixFeed, PrefixFeeds } from './prefix-feed.js';
import { byKey, DEFAULT_LOCK_DELAY_MS, DEFAULT_LOCK_TTL_MS, DEFAULT_WATCH_WAIT_MS } from '../types.js';
import type { KVDeleteOptions, KVIndex, KVLock, KVLockOptions, KVPair, KVPutOptions, KVReadOptions, KVSnapshot, KVStore, KVWatchOptions } from '../types.js';

/** The endpoint used when no node is given, as etcd's own clients. */
export const ETCD_DEFAULT_NODE = '127.0.0.1:2379';

export interface EtcdStoreOptions {
  /** http(s)://host:port or host:port, several allowed (the -node flags). Default ETCD_DEFAULT_NODE. */
  nodes?: string[];
  /** The scheme of nodes given without one. Default https when TLS files are given, else http. */
  scheme?: 'http' | 'https';
  /** Per-request deadline (ms). Default 10 s. */
  timeoutMs?: number;
  /**
   * Where the seam's keys live in etcd. `confd` (default): under "/", as confd reads resource key
   * "/haproxy/x" (etcd key "/haproxy/x"). `bare`: without it ("haproxy/x"), as releases before
   * the confd layout wrote them.
   */
  layout?: EtcdKeyLayout;
  /** TLS: the CA that signs the server's certificate (verified), and a client certificate and key. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** etcd's own user/password authentication (confd's -username/-password). */
  username?: string;
  password?: string;
}

export type EtcdKeyLayout = 'confd' | 'bare';

/** The etcd key of a seam key, and back: the only two places that know the layout. */
function keyMapping(layout: EtcdKeyLayout): { toEtcd: (k: string) => string; fromEtcd: (k: string) => string } {
  if (layout === 'bare') return { toEtcd: (k) => k, fromEtcd: (k) => k };
  return { toEtcd: (k) => `/${k}`, fromEtcd: (k) => (k.startsWith('/') ? k.slice(1) : k) };
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KVError('KV_CONFIG', `etcd: cannot read the ${what} ${path} (${(err as Error).message})`, { cause: err });
  }
}

/** The etcd3 client's TLS and auth options from the store options; a half-given pair is an error. */
function securityOptions(opts: EtcdStoreOptions): Pick<IOptions, 'credentials' | 'auth'> {
  if (Boolean(opts.certFile) !== Boolean(opts.keyFile)) throw new KVError('KV_CONFIG', 'etcd: a client certificate needs its key and a key its certificate (--client-cert with --client-key)');
  if (Boolean(opts.username) !== Boolean(opts.password)) throw new KVError('KV_CONFIG', 'etcd: --username and --password go together');
  const tls = opts.caFile || opts.certFile;
  return {
    ...(tls
      ? {
          credentials: {
            // Without a CA, the system's roots verify the server, as Go's crypto/tls does in confd.
            rootCertificate: opts.caFile ? readPem(opts.caFile, 'CA certificate') : (null as unknown as Buffer),
            ...(opts.keyFile ? { privateKey: readPem(opts.keyFile, 'client key') } : {}),
            ...(opts.certFile ? { certChain: readPem(opts.certFile, 'client certificate') } : {}),
          },
        }
      : {}),
    ...(opts.username ? { auth: { username: opts.username, password: opts.password! } } : {}),
  };
}

const DELAY_SUFFIX = '\u0000lock-delay';
const HOLDER_SUFFIX = '\u0000lock-holder';
const isCompanion = (etcdKey: string) => etcdKey.endsWith(DELAY_SUFFIX) || etcdKey.endsWith(HOLDER_SUFFIX);

interface EtcdKV {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  create_revision: string;
  lease: string;
}

const leaseOf = (kv: EtcdKV) => (kv.lease && kv.lease !== '0' ? kv.lease : undefined);

type Etcd3Module = typeof import('etcd3');
type CockatielModule = typeof import('cockatiel');

/**
 * How the client rides out a failed call: etcd3's own retry of recoverable errors (3 attempts), with
 * a short jittered wait between them, as the Consul store's reads. etcd3's per-member circuit
 * breaker only where there is another member to go to: one reset of the shared HTTP/2 connection
 * fails every call on it at once, which opens the breaker, and a lone member's open breaker would
 * refuse every call for 5 s — the watch, the status lease and the next pass's reads.
 */
function faultHandling(m: Etcd3Module, c: CockatielModule, members: number): NonNullable<IOptions['faultHandling']> {
  const recoverable = c.handleWhen(m.isRecoverableError);
  return {
    host: members > 1 ? () => c.circuitBreaker(recoverable, { halfOpenAfter: 5000, breaker: new c.ConsecutiveBreaker(3) }) : () => c.noop,
    global: c.retry(recoverable, { maxAttempts: READ_RETRY.retries, backoff: new c.ExponentialBackoff({ initialDelay: READ_RETRY.minMs, maxDelay: READ_RETRY.maxMs }) }),
  };
}

// etcd answers a request without a user as InvalidArgument; its own Go client (rpctypes) tells
// this one apart from other InvalidArguments by its exact description, as here.
const ETCD_USER_EMPTY = 'etcdserver: user name is empty';

/** The KVError code of an etcd3 client error: by its class (the gRPC status it was cast from), or a bare gRPC status code. */
function errorCode(m: Etcd3Module, err: unknown): KVErrorCode {
  const forbidden = [m.EtcdPermissionDeniedError, m.GRPCUnauthenticatedError, m.EtcdAuthenticationFailedError, m.EtcdInvalidAuthTokenError, m.EtcdUserNotFoundError, m.EtcdRoleNotGrantedError];
  const unreachable = [m.GRPCUnavailableError, m.GRPCDeadlineExceededError];
  const badRequest = [m.GRPCInvalidArgumentError, m.GRPCResourceExhastedError];
  if (forbidden.some((c) => err instanceof c)) return 'KV_FORBIDDEN';
  if (err instanceof m.GRPCInvalidArgumentError && err.message.includes(ETCD_USER_EMPTY)) return 'KV_FORBIDDEN';
  if (unreachable.some((c) => err instanceof c)) return 'KV_UNREACHABLE';
  if (badRequest.some((c) => err instanceof c)) return 'KV_BAD_REQUEST';
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? (GRPC_STATUS[code] ?? 'KV_SERVER') : 'KV_SERVER';
}

/** gRPC status codes an error may still carry uncast (grpc-js errors from streams). */
const GRPC_STATUS: Record<number, KVErrorCode> = {
  3: 'KV_BAD_REQUEST', // INVALID_ARGUMENT
  4: 'KV_UNREACHABLE', // DEADLINE_EXCEEDED
  7: 'KV_FORBIDDEN', // PERMISSION_DENIED
  8: 'KV_BAD_REQUEST', // RESOURCE_EXHAUSTED
  14: 'KV_UNREACHABLE', // UNAVAILABLE
  16: 'KV_FORBIDDEN', // UNAUTHENTICATED
};

function toError(m: Etcd3Module, what: string, err: unknown): KVError {
  const msg = (err as { message?: string }).message ?? String(err);
  const code = errorCode(m, err);
  return new KVError(code, `etcd: ${what}: ${code === 'KV_FORBIDDEN' ? `permission denied (${msg})` : msg}`, { cause: err });
}

export function createEtcdStore(opts: EtcdStoreOptions = {}): KVStore {
  const security = securityOptions(opts);
  const nodes = opts.nodes?.length ? opts.nodes : [ETCD_DEFAULT_NODE];
  const scheme = opts.scheme ?? (security.credentials ? 'https' : 'http');
  const hosts = nodes.map((n) => (/^[a-z]+:\/\//.test(n) ? n : `${scheme}://${n}`));
  if (security.credentials && hosts.some((h) => h.startsWith('http://'))) {
    throw new KVError('KV_CONFIG', `etcd: TLS files are given but a --node is http:// (${hosts.join(', ')}): use https://`);
  }
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const { toEtcd, fromEtcd } = keyMapping(opts.layout ?? 'confd');
  // Loaded on first use: etcd3 and its gRPC stack cost ~25 MB of RSS in every process that never talks to etcd.
  const load = createRequire(import.meta.url);
  const etcd3 = load('etcd3') as Etcd3Module;
  const client: Etcd3 = new etcd3.Etcd3({ hosts, dialTimeout: timeoutMs, faultHandling: faultHandling(etcd3, load('cockatiel') as CockatielModule, hosts.length), ...security });
  const deadline = () => ({ deadline: Date.now() + timeoutMs });

  const call = async <T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> => {
    throwIfAborted(signal);
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw new KVError('KV_ABORTED', 'aborted', { cause: signal.reason });
      throw toError(etcd3, what, err);
    }
  };

  /** The seam's pairs of etcd's answer: companions left out, a key's session from its own lease or its holder's. */
  const toPairs = (kvs: EtcdKV[]): KVPair[] => {
    const holders = new Map(kvs.filter((kv) => kv.key.toString().endsWith(HOLDER_SUFFIX)).map((kv) => [kv.key.toString().slice(0, -HOLDER_SUFFIX.length), leaseOf(kv)]));
    return kvs
      .filter((kv) => !isCompanion(kv.key.toString()))
      .map((kv) => {
        const session = leaseOf(kv) ?? holders.get(kv.key.toString());
        return {
          key: fromEtcd(kv.key.toString()),
          value: kv.value.toString(),
          modifyIndex: Number(kv.mod_revision),
          createIndex: Number(kv.create_revision),
          flags: 0,
          ...(session ? { session } : {}),
        };
      });
  };

  // The last answer per prefix: a watch whose wait ends with no event answers with it instead of
  // reading the whole prefix again (an idle watcher of 1,000 entries: ~200 ms of CPU a minute saved).
  const lastList = new Map<string, KVSnapshot>();
  const list = (prefix: string, signal?: AbortSignal): Promise<KVSnapshot> =>
    call(`list "${prefix}"`, signal, async () => {
      const res = await client.getAll().prefix(toEtcd(prefix)).options(deadline()).exec();
      const pairs = toPairs(res.kvs);
      pairs.sort(byKey);
      const snap = { index: Math.max(1, Number(res.header.revision)), pairs, knownLeader: true };
      lastList.set(prefix, snap);
      return snap;
    });

  const feeds = new PrefixFeeds((etcdPrefix, since) => new PrefixFeed(client, etcdPrefix, since));
  // A hung member keeps a feed's stream open and silent: a quiet wait is trusted only once it answers.
  const answers = () =>
    client.maintenance.status(deadline()).then(
      () => true,
      () => false,
    );

  const store: KVStore = {
    backend: 'etcd',
    describe: `etcd ${hosts.join(',')}${opts.layout === 'bare' ? ' (bare keys)' : ''}`,
    list: (prefix, o?: KVReadOptions) => list(prefix, o?.signal),

    async watch(prefix: string, since: KVIndex, o: KVWatchOptions): Promise<KVSnapshot> {
      if (!(since > 0)) return list(prefix, o.signal);
      throwIfAborted(o.signal);
      const feed = await feeds.feed(toEtcd(prefix), since);
      // A caller behind the prefix's feed (an older index) gets a fresh read.
      if (!feed) return list(prefix, o.signal);
      const how = await feed.wait(since, o.waitMs ?? DEFAULT_WATCH_WAIT_MS, o.signal);
      throwIfAborted(o.signal);
      if (how === 'changed') return list(prefix, o.signal);
      // Only a feed etcd confirmed, still connected, on a member that answers now vouches for "nothing changed".
      if (how === 'timeout' && feed.connected) {
        const unchanged = lastList.get(prefix);
        if (unchanged?.index !== since) return list(prefix, o.signal);
        if (await answers()) return unchanged;
      }
      // Lost, never confirmed, or on a member that does not answer: the next watch() starts a new feed.
      await feeds.drop(toEtcd(prefix), feed);
      return list(prefix, o.signal);
    },

    get: (key: string, o?: KVReadOptions) =>
      call(`get "${key}"`, o?.signal, async () => {
        // The key and its companions ("key\0..."), in one read.
        const res = await client.getAll().inRange({ start: toEtcd(key), end: `${toEtcd(key)}\u0001` }).options(deadline()).exec();
        return toPairs(res.kvs).find((p) => p.key === key);
      }),

    put: (seamKey: string, value: string, o: KVPutOptions = {}) =>
      call(`put "${seamKey}"`, o.signal, async () => {
        const key = toEtcd(seamKey);
        if (o.cas === undefined) {
          await client.put(key).value(value).options(deadline()).exec();
          return true;
        }
        const cmp = o.cas === 0 ? client.if(key, 'Create', '==', 0) : client.if(key, 'Mod', '==', o.cas);
        const res = await cmp.then(client.put(key).value(value)).options(deadline()).commit();
        return res.succeeded;
      }),

    delete: (seamKey: string, o: KVDeleteOptions = {}) =>
      call(`delete "${seamKey}"`, o.signal, async () => {
        const key = toEtcd(seamKey);
        // A deleted lock key is no longer held, whatever its behavior: its holder goes with it.
        const both = [client.delete().key(key), client.delete().key(key + HOLDER_SUFFIX)];
        // Version > -1 holds for every key, present or not: an unconditional transaction.
        const cmp = o.cas === undefined || o.cas === 0 ? client.if(key, 'Version', '>', -1) : client.if(key, 'Mod', '==', o.cas);
        const res = await cmp.then(...both).options(deadline()).commit();
        return res.succeeded;
      }),

    async acquireLock(seamKey: string, o: KVLockOptions): Promise<KVLock | undefined> {
      const key = toEtcd(seamKey);
      const ttl = Math.max(1, Math.ceil((o.ttlMs ?? DEFAULT_LOCK_TTL_MS) / 1000));
      const delay = Math.ceil((o.lockDelayMs ?? DEFAULT_LOCK_DELAY_MS) / 1000);
      const delayKey = key + DELAY_SUFFIX;
      const holderKey = key + HOLDER_SUFFIX;
      const keepsKey = (o.behavior ?? 'release') === 'release';
      // Who holds the key: its companion on the lease (the key stays when the lease ends), or the key itself.
      const holdOps = (id: string) => (keepsKey ? [client.put(key).value(o.holder), client.put(holderKey).value(o.holder).lease(id)] : [client.put(key).value(o.holder).lease(id)]);
      const lease: Lease = client.lease(ttl, { autoKeepAlive: false });
      const delayLease: Lease | undefined = delay > 0 ? client.lease(ttl + delay, { autoKeepAlive: false }) : undefined;
      const revokeAll = async () => {
        await Promise.all([lease.revoke().catch(() => {}), delayLease?.revoke().catch(() => {})]);
      };
      let got: boolean;
      try {
        const id = await lease.grant();
        const delayId = delayLease ? await delayLease.grant() : undefined;
        // Free: no lease on the key, no holder, no lock-delay running (the key itself may exist).
        const res = await client
          .if(key, 'Lease', '==', 0)
          .and(holderKey, 'Create', '==', 0)
          .and(delayKey, 'Create', '==', 0)
          .then(...holdOps(id), ...(delayId ? [client.put(delayKey).value(o.holder).lease(delayId)] : []))
          .options(deadline())
          .commit();
        got = res.succeeded;
      } catch (err) {
        await revokeAll();
        throw toError(etcd3, `acquire "${seamKey}"`, err);
      }
      if (!got) {
        await revokeAll();
        return undefined;
      }
      const session = await lease.grant();
      return {
        key: seamKey,
        session,
        holder: o.holder,
        renew: async () => {
          try {
            await Promise.all([lease.keepaliveOnce(), delayLease?.keepaliveOnce()]);
          } catch {
            return false;
          }
          const now = await store.get(seamKey).catch(() => undefined);
          return now?.session === session;
        },
        update: async (value: string) => {
          try {
            const held = keepsKey ? client.if(holderKey, 'Lease', '==', session).then(client.put(key).value(value)) : client.if(key, 'Lease', '==', session).then(client.put(key).value(value).lease(session));
            const res = await held.options(deadline()).commit();
            return res.succeeded;
          } catch (err) {
            throw toError(etcd3, `update "${seamKey}"`, err);
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
      await feeds.closeAll();
      client.close();
    },
  };
  return store;
}
