// What the KV store and the catalog share of the `consul` client: one way to build it (TLS agent,
// the token in the header only), one way to run a call (cancellable, errors as KVErrors), a watch's
// blocking query, and the response headers both read.
import { EventEmitter } from 'node:events';
import { Agent as HttpsAgent } from 'node:https';
import type Consul from 'consul';
import { KVError, throwIfAborted } from '../errors.js';
import { DEFAULT_WATCH_WAIT_MS, type KVIndex } from '../types.js';
import type { ConsulConfig } from './config.js';
import { retryRead } from '../retry.js';
import { isTransientRead, toKVError, type ConsulOp } from './errors.js';

// --- the slice of the client both use (its typings lack ctx, timeout, index, wait) ---
export interface Resp {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
}
/** Per call: `ctx` cancels the request and asks for the response too; `timeout` in ms. */
export interface Call {
  ctx: EventEmitter & { includeResponse: true };
  timeout: number;
}
export type Answer<T> = Promise<[Resp, T | undefined]>;

export function header(res: Resp | undefined, name: string): string | undefined {
  const v = res?.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** X-Consul-Index; never below 1 (a 0 would turn the next blocking query into a plain read). */
export function indexOf(res: Resp | undefined): KVIndex {
  const n = Number(header(res, 'x-consul-index'));
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

/** A watch's blocking query: from index `since`, held up to waitMs; none for "since nothing" (an index of 0 or below), which is a plain read. */
export function blockFrom(since: KVIndex, waitMs: number | undefined): { index: KVIndex; waitMs: number } | undefined {
  const index = Math.floor(since);
  if (!(index > 0)) return undefined;
  return { index, waitMs: Math.max(1, Math.round(waitMs ?? DEFAULT_WATCH_WAIT_MS)) };
}

/** A blocking query may be held for wait + wait/16 (Consul's jitter); a margin on top. */
export function blockingTimeoutMs(block: { waitMs: number } | undefined, plainMs: number): number {
  return block ? block.waitMs + Math.ceil(block.waitMs / 16) + 5000 : plainMs;
}

/** The client, typed as the slice C its caller uses, and the way to run calls on it. */
export class ConsulConnection<C extends { destroy(): void }> {
  readonly #config: ConsulConfig;
  // The npm client loads with the first call (a run on another backend never loads it: ~70 ms of start-up).
  #client: C | undefined;
  #loading: Promise<void> | undefined;
  /** Fires on close(): every request in flight is cancelled. */
  readonly #closing = new AbortController();

  constructor(config: ConsulConfig) {
    this.#config = config;
  }

  /** The client, once a call has loaded it. */
  get client(): C {
    if (!this.#client) throw new KVError('KV_CONFIG', `${this.#config.describe}: the Consul client is used before a call loaded it`);
    return this.#client;
  }

  #load(): Promise<void> {
    this.#loading ??= import('consul').then(({ default: Consul }) => {
      this.#client = this.#create(Consul);
      if (this.closed) this.#client.destroy();
    });
    return this.#loading;
  }

  #create(Client: typeof Consul): C {
    const { address, token, tls } = this.#config;
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
    return new Client({
      host: address.host.includes(':') ? `[${address.host}]` : address.host,
      port: address.port,
      secure: address.secure,
      ...(agent ? { agent } : {}),
      // The client puts defaults.token into the X-Consul-Token header of every request (lib/utils.js).
      ...(token ? { defaults: { token } } : {}),
    } as ConstructorParameters<typeof Consul>[0]) as unknown as C;
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Run one client call, cancelled by `signal` or close(); its failures become KVErrors about `op`. */
  async call<T>(op: ConsulOp, signal: AbortSignal | undefined, timeoutMs: number, fn: (call: Call) => Promise<T>): Promise<T> {
    const { describe } = this.#config;
    throwIfAborted(signal);
    if (this.closed) throw new KVError('KV_ABORTED', `${describe}: ${op.what}: the store is closed`);
    await this.#load();
    if (this.closed) throw new KVError('KV_ABORTED', `${describe}: ${op.what}: the store is closed`);
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true as const });
    const cancel = () => ctx.emit('cancel');
    signal?.addEventListener('abort', cancel, { once: true });
    this.#closing.signal.addEventListener('abort', cancel, { once: true });
    try {
      return await fn({ ctx, timeout: timeoutMs });
    } catch (err) {
      if (signal?.aborted) throw new KVError('KV_ABORTED', `${describe}: ${op.what}: aborted`, { cause: signal.reason });
      if (this.closed) throw new KVError('KV_ABORTED', `${describe}: ${op.what}: the store was closed`);
      throw toKVError(err, op, { describe, ...(this.#config.token ? { token: this.#config.token } : {}), timeoutMs });
    } finally {
      signal?.removeEventListener('abort', cancel);
      this.#closing.signal.removeEventListener('abort', cancel);
    }
  }

  /**
   * A read: a plain one that failed on the connection or with a 5xx is sent again (bounded, jittered);
   * a blocking query is not: its watch loop backs off and reads without an index after a failure.
   */
  read<T>(op: ConsulOp, signal: AbortSignal | undefined, timeoutMs: number, block: unknown, fn: (call: Call) => Promise<T>): Promise<T> {
    if (block) return this.call(op, signal, timeoutMs, fn);
    return retryRead(() => this.call(op, signal, timeoutMs, fn), isTransientRead, signal);
  }

  /** Cancel every call in flight; the client keeps no sockets after this. */
  close(): void {
    this.#closing.abort();
    this.#client?.destroy();
  }
}
