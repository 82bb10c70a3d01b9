// The production store: Consul KV through the npm `consul` client. The token travels only in
// the X-Consul-Token header (the client's `defaults.token`); it never reaches a URL, `describe`
// or an error message.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
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

export interface ConsulStoreOptions {
  /** host:port or scheme://host:port; default from env CONSUL_HTTP_ADDR, then 127.0.0.1:8500. */
  address?: string;
  /** http or https when the address has no scheme. */
  scheme?: 'http' | 'https';
  token?: string;
  tokenFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Per-request timeout for non-blocking calls (ms). Default 10 s. */
  timeoutMs?: number;
  /** The environment to read CONSUL_HTTP_* from (libraries never read process.env themselves). */
  env?: Record<string, string | undefined>;
}

export interface ConsulAddress {
  secure: boolean;
  host: string;
  port: number;
}

/** "127.0.0.1:8500", "http://h:8500", "https://h", "[::1]:8500" → parts. */
export function parseConsulAddress(text: string, scheme?: 'http' | 'https'): ConsulAddress {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `${scheme ?? 'http'}://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new KVError('KV_CONFIG', `consul address "${text}" is not host:port or scheme://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KVError('KV_CONFIG', `consul address "${text}": scheme must be http or https`);
  }
  const secure = url.protocol === 'https:';
  return { secure, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : secure ? 8501 : 8500 };
}

function readOptFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KVError('KV_CONFIG', `cannot read ${what} ${path} (${(err as Error).message})`, { cause: err });
  }
}

type ConsulClient = InstanceType<typeof Consul>;
interface Resp {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

const SESSION_MIN_TTL_MS = 10_000;

export function createConsulStore(opts: ConsulStoreOptions = {}): KVStore {
  const env = opts.env ?? {};
  const address = parseConsulAddress(opts.address ?? env.CONSUL_HTTP_ADDR ?? '127.0.0.1:8500', opts.scheme);
  const tokenFile = opts.tokenFile ?? env.CONSUL_HTTP_TOKEN_FILE;
  const token = opts.token ?? (tokenFile ? readOptFile(tokenFile, 'token file').split('\n')[0]!.trim() : env.CONSUL_HTTP_TOKEN) ?? undefined;
  const ca = opts.caFile ?? env.CONSUL_CACERT;
  const cert = opts.certFile ?? env.CONSUL_CLIENT_CERT;
  const key = opts.keyFile ?? env.CONSUL_CLIENT_KEY;
  const agent =
    address.secure && (ca || cert || key)
      ? new HttpsAgent({
          keepAlive: true,
          ...(ca ? { ca: readOptFile(ca, 'CA file') } : {}),
          ...(cert ? { cert: readOptFile(cert, 'client certificate') } : {}),
          ...(key ? { key: readOptFile(key, 'client key') } : {}),
        })
      : undefined;
  const client = new Consul({
    host: address.host.includes(':') ? `[${address.host}]` : address.host,
    port: address.port,
    secure: address.secure,
    ...(agent ? { agent } : {}),
    ...(token ? { defaults: { token } } : {}),
  } as ConstructorParameters<typeof Consul>[0]);
  return new ConsulStore(client, `consul ${address.secure ? 'https://' : ''}${address.host}:${address.port}`, opts.timeoutMs ?? 10_000);
}

/** A papi context: cancels the request when the signal fires, and asks for the raw response. */
function context(signal: AbortSignal | undefined): { ctx: EventEmitter & { includeResponse: true }; done: () => void } {
  const ctx = Object.assign(new EventEmitter(), { includeResponse: true as const });
  const cancel = () => ctx.emit('cancel');
  signal?.addEventListener('abort', cancel, { once: true });
  return { ctx, done: () => signal?.removeEventListener('abort', cancel) };
}

function header(res: Resp | undefined, name: string): string | undefined {
  const v = res?.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function indexOf(res: Resp | undefined): KVIndex {
  const n = Number(header(res, 'x-consul-index'));
  return Number.isFinite(n) && n >= 1 ? n : 1;
}

interface ConsulEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  Session?: string;
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
  readonly #client: ConsulClient;
  readonly #timeoutMs: number;

  constructor(client: ConsulClient, describe: string, timeoutMs: number) {
    this.#client = client;
    this.describe = describe;
    this.#timeoutMs = timeoutMs;
  }

  /** Run one client call with cancellation, and turn its failures into KVErrors about `what`. */
  async #call<T>(what: string, signal: AbortSignal | undefined, fn: (ctx: EventEmitter) => Promise<T>): Promise<T> {
    throwIfAborted(signal);
    const { ctx, done } = context(signal);
    try {
      return await fn(ctx);
    } catch (err) {
      if (signal?.aborted) throw new KVError('KV_ABORTED', 'aborted', { cause: signal.reason });
      throw this.#error(what, err);
    } finally {
      done();
    }
  }

  #error(what: string, err: unknown): KVError {
    const e = err as { statusCode?: number; message?: string; code?: string; isPapi?: boolean; response?: Resp };
    const status = e.statusCode ?? e.response?.statusCode;
    const body = typeof e.response?.body === 'string' ? e.response.body.trim() : '';
    const detail = body || (e.message ?? String(err));
    if (status === 403) {
      const why = /ACL not found/i.test(detail) ? 'the ACL token is unknown or was revoked' : 'the ACL token lacks permission';
      return new KVError('KV_FORBIDDEN', `${this.describe}: ${what}: permission denied (${why}; Consul said "${detail}")`, { cause: err });
    }
    if (status === 400 || status === 413) return new KVError('KV_BAD_REQUEST', `${this.describe}: ${what}: ${detail}`, { cause: err });
    if (status !== undefined && status >= 500) return new KVError('KV_SERVER', `${this.describe}: ${what}: server error ${status} (${detail})`, { cause: err });
    if (status === 429) return new KVError('KV_SERVER', `${this.describe}: ${what}: rate limited (429)`, { cause: err });
    if (status !== undefined) return new KVError('KV_SERVER', `${this.describe}: ${what}: HTTP ${status} (${detail})`, { cause: err });
    return new KVError('KV_UNREACHABLE', `${this.describe}: ${what}: ${e.message ?? String(err)}`, { cause: err });
  }

  async #list(prefix: string, signal: AbortSignal | undefined, block?: { index: KVIndex; waitMs: number }): Promise<KVSnapshot> {
    const [res, body] = await this.#call(`list "${prefix}"`, signal, (ctx) =>
      this.#client.kv.get({
        key: prefix,
        recurse: true,
        ctx,
        ...(block ? { index: String(block.index), wait: `${Math.ceil(block.waitMs / 1000)}s`, timeout: block.waitMs + block.waitMs / 16 + 5000 } : { timeout: this.#timeoutMs }),
      } as never) as unknown as Promise<[Resp, ConsulEntry[] | undefined]>,
    );
    const pairs = (Array.isArray(body) ? body : []).map(toPair).filter((p) => p.key.startsWith(prefix));
    pairs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { index: indexOf(res), pairs, knownLeader: header(res, 'x-consul-knownleader') !== 'false' };
  }

  list(prefix: string, opts?: KVReadOptions): Promise<KVSnapshot> {
    return this.#list(prefix, opts?.signal);
  }

  async watch(prefix: string, since: KVIndex, opts: KVWatchOptions): Promise<KVSnapshot> {
    // Never send an index of 0 or below: that is a plain read.
    if (!(since > 0)) return this.#list(prefix, opts.signal);
    const snap = await this.#list(prefix, opts.signal, { index: since, waitMs: opts.waitMs ?? 60_000 });
    // The index went backwards (snapshot restore, new leader): start again from a fresh read.
    if (snap.index < since) return this.#list(prefix, opts.signal);
    return snap;
  }

  async get(key: string, opts?: KVReadOptions): Promise<KVPair | undefined> {
    const [, body] = await this.#call(`get "${key}"`, opts?.signal, (ctx) =>
      this.#client.kv.get({ key, ctx, timeout: this.#timeoutMs } as never) as unknown as Promise<[Resp, ConsulEntry | undefined]>,
    );
    return body && typeof body === 'object' ? toPair(body) : undefined;
  }

  async put(key: string, value: string, opts: KVPutOptions = {}): Promise<boolean> {
    const [, body] = await this.#call(`put "${key}"`, opts.signal, (ctx) =>
      this.#client.kv.set({
        key,
        value,
        ctx,
        timeout: this.#timeoutMs,
        ...(opts.cas !== undefined ? { cas: String(opts.cas) } : {}),
        ...(opts.flags !== undefined ? { flags: String(opts.flags) } : {}),
      } as never) as unknown as Promise<[Resp, boolean]>,
    );
    return body === true;
  }

  async delete(key: string, opts: KVDeleteOptions = {}): Promise<boolean> {
    const [, body] = await this.#call(`delete "${key}"`, opts.signal, (ctx) =>
      this.#client.kv.del({ key, ctx, timeout: this.#timeoutMs, ...(opts.cas !== undefined ? { cas: String(opts.cas) } : {}) } as never) as unknown as Promise<
        [Resp, boolean]
      >,
    );
    return body === true;
  }

  async acquireLock(key: string, opts: KVLockOptions): Promise<KVLock | undefined> {
    const ttlMs = Math.max(SESSION_MIN_TTL_MS, opts.ttlMs ?? 15_000);
    const lockDelayMs = opts.lockDelayMs ?? 15_000;
    const [, created] = await this.#call(`create a session for "${key}"`, opts.signal, (ctx) =>
      this.#client.session.create({
        name: `confd-haproxy lock ${key}`,
        ttl: `${Math.ceil(ttlMs / 1000)}s`,
        lockdelay: `${Math.round(lockDelayMs)}ms`,
        behavior: 'release',
        ctx,
        timeout: this.#timeoutMs,
      } as never) as unknown as Promise<[Resp, { ID: string }]>,
    );
    const session = created.ID;
    const destroy = () =>
      this.#call(`destroy session for "${key}"`, undefined, (ctx) =>
        this.#client.session.destroy({ id: session, ctx, timeout: this.#timeoutMs } as never) as unknown as Promise<unknown>,
      ).then(
        () => undefined,
        () => undefined,
      );
    let got: boolean;
    try {
      const [, body] = await this.#call(`acquire "${key}"`, opts.signal, (ctx) =>
        this.#client.kv.set({ key, value: opts.holder, acquire: session, ctx, timeout: this.#timeoutMs } as never) as unknown as Promise<[Resp, boolean]>,
      );
      got = body === true;
    } catch (err) {
      await destroy();
      throw err;
    }
    if (!got) {
      await destroy();
      return undefined;
    }
    return {
      key,
      session,
      holder: opts.holder,
      renew: async () => {
        try {
          await this.#call(`renew the lock on "${key}"`, undefined, (ctx) =>
            this.#client.session.renew({ id: session, ctx, timeout: this.#timeoutMs } as never) as unknown as Promise<unknown>,
          );
        } catch (err) {
          // 404: the session expired or was destroyed. The lock is gone.
          if ((err as KVError).cause && ((err as KVError).cause as { statusCode?: number }).statusCode === 404) return false;
          throw err;
        }
        const now = await this.get(key);
        return now?.session === session;
      },
      release: async () => {
        await this.#call(`release "${key}"`, undefined, (ctx) =>
          this.#client.kv.set({ key, value: opts.holder, release: session, ctx, timeout: this.#timeoutMs } as never) as unknown as Promise<unknown>,
        ).catch(() => undefined);
        await destroy();
      },
    };
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}
