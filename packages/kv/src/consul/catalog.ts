// Consul's catalog and health endpoints behind the catalog seam, through the npm `consul` client.
// As for KV: the token goes only in the X-Consul-Token header, X-Consul-Index is never below 1,
// and an index that went backwards is handed on as it is (the watch loop continues from it).
import { EventEmitter } from 'node:events';
import { Agent as HttpsAgent } from 'node:https';
import Consul from 'consul';
import type { CatalogReader, HealthReadOptions, HealthSnapshot, ServiceInstance, ServiceQuery, ServicesSnapshot, ServiceStatus } from '../catalog.js';
import { serviceQueryText } from '../catalog.js';
import { KVError, throwIfAborted } from '../errors.js';
import type { KVIndex, KVReadOptions, KVWatchOptions } from '../types.js';
import type { ConsulConfig } from './config.js';
import { toKVError, type ConsulOp } from './errors.js';

const DEFAULT_WAIT_MS = 60_000;

interface Resp {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
}
interface Call {
  ctx: EventEmitter & { includeResponse: true };
  timeout: number;
}
interface HealthEntry {
  Node?: { ID?: string; Node?: string; Address?: string; Datacenter?: string; Meta?: Record<string, string> | null };
  Service?: { ID?: string; Service?: string; Tags?: string[] | null; Address?: string; Meta?: Record<string, string> | null; Port?: number; Weights?: { Passing?: number; Warning?: number } | null };
  Checks?: { Status?: string }[] | null;
}
type Answer<T> = Promise<[Resp, T | undefined]>;
interface Client {
  health: { service(o: Call & { service: string; tag?: string; passing?: boolean; dc?: string; index?: string; wait?: string }): Answer<HealthEntry[]> };
  catalog: { service: { list(o: Call & { dc?: string; index?: string; wait?: string }): Answer<Record<string, string[] | null>> } };
  destroy(): void;
}

const header = (res: Resp, name: string) => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};
const indexOf = (res: Resp): KVIndex => {
  const n = Number(header(res, 'x-consul-index'));
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
};
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** consul-template's statusFromChecks: critical, then warning, then passing; no checks is passing. */
export function aggregateStatus(checks: readonly { Status?: string }[]): ServiceStatus {
  const seen = new Set(checks.map((c) => c.Status));
  if ([...seen].some((s) => s !== 'passing' && s !== 'warning')) return 'critical';
  return seen.has('warning') ? 'warning' : 'passing';
}

export function toInstance(e: HealthEntry): ServiceInstance {
  const n = e.Node ?? {};
  const s = e.Service ?? {};
  return {
    node: n.Node ?? '',
    nodeId: n.ID ?? '',
    nodeAddress: n.Address ?? '',
    nodeDatacenter: n.Datacenter ?? '',
    nodeMeta: { ...(n.Meta ?? {}) },
    address: s.Address || n.Address || '',
    id: s.ID ?? '',
    name: s.Service ?? '',
    tags: [...(s.Tags ?? [])].sort(byString),
    meta: { ...(s.Meta ?? {}) },
    port: s.Port ?? 0,
    status: aggregateStatus(e.Checks ?? []),
    weights: { passing: s.Weights?.Passing ?? 1, warning: s.Weights?.Warning ?? 1 },
  };
}

const accepts = (status: HealthReadOptions['status'], s: ServiceStatus) => status === undefined || status === 'any' || (status === 'passing' ? s === 'passing' : status.includes(s));

export class ConsulCatalog implements CatalogReader {
  readonly #config: ConsulConfig;
  readonly #client: Client;
  readonly #closing = new AbortController();

  constructor(config: ConsulConfig) {
    this.#config = config;
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
      // defaults.token goes into the X-Consul-Token header only (the client's lib/utils.js).
      ...(token ? { defaults: { token } } : {}),
    } as ConstructorParameters<typeof Consul>[0]) as unknown as Client;
  }

  async #call<T>(op: ConsulOp, signal: AbortSignal | undefined, timeoutMs: number, fn: (call: Call) => Promise<T>): Promise<T> {
    const describe = this.#config.describe;
    throwIfAborted(signal);
    if (this.#closing.signal.aborted) throw new KVError('KV_ABORTED', `${describe}: ${op.what}: the store is closed`);
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true as const });
    const cancel = () => ctx.emit('cancel');
    signal?.addEventListener('abort', cancel, { once: true });
    this.#closing.signal.addEventListener('abort', cancel, { once: true });
    try {
      return await fn({ ctx, timeout: timeoutMs });
    } catch (err) {
      if (signal?.aborted) throw new KVError('KV_ABORTED', `${describe}: ${op.what}: aborted`, { cause: signal.reason });
      if (this.#closing.signal.aborted) throw new KVError('KV_ABORTED', `${describe}: ${op.what}: the store was closed`);
      throw toKVError(err, op, { describe, ...(this.#config.token ? { token: this.#config.token } : {}), timeoutMs });
    } finally {
      signal?.removeEventListener('abort', cancel);
      this.#closing.signal.removeEventListener('abort', cancel);
    }
  }

  /** A blocking query may be held for wait + wait/16 (Consul's jitter); a margin on top. */
  #timeout(block: { waitMs: number } | undefined) {
    return block ? block.waitMs + Math.ceil(block.waitMs / 16) + 5000 : this.#config.timeoutMs;
  }

  async #health(q: ServiceQuery, status: HealthReadOptions['status'], signal: AbortSignal | undefined, block?: { index: KVIndex; waitMs: number }): Promise<HealthSnapshot> {
    const text = serviceQueryText(q);
    const op = { what: `health of service "${text}"`, access: 'read the service', target: q.name };
    const [res, body] = await this.#call(op, signal, this.#timeout(block), (call) =>
      this.#client.health.service({
        ...call,
        service: q.name,
        ...(q.tag ? { tag: q.tag } : {}),
        ...(q.dc ? { dc: q.dc } : {}),
        // Healthy only (the default) is the server's ?passing; other filters need every instance's status.
        ...(status === undefined || status === 'passing' ? { passing: true } : {}),
        ...(block ? { index: String(block.index), wait: `${block.waitMs}ms` } : {}),
      }),
    );
    const instances = (Array.isArray(body) ? body : [])
      .map(toInstance)
      .filter((i) => accepts(status, i.status))
      .sort((a, b) => byString(a.node, b.node) || byString(a.id, b.id));
    return { index: indexOf(res), instances, knownLeader: header(res, 'x-consul-knownleader') !== 'false' };
  }

  health(query: ServiceQuery, opts: HealthReadOptions = {}): Promise<HealthSnapshot> {
    return this.#health(query, opts.status, opts.signal);
  }

  watchHealth(query: ServiceQuery, since: KVIndex, opts: KVWatchOptions & Pick<HealthReadOptions, 'status'>): Promise<HealthSnapshot> {
    const index = Math.floor(since);
    // Never an index of 0 or below: "since nothing" is a plain read.
    if (!(index > 0)) return this.#health(query, opts.status, opts.signal);
    return this.#health(query, opts.status, opts.signal, { index, waitMs: Math.max(1, Math.round(opts.waitMs ?? DEFAULT_WAIT_MS)) });
  }

  async #services(dc: string | undefined, signal: AbortSignal | undefined, block?: { index: KVIndex; waitMs: number }): Promise<ServicesSnapshot> {
    const op = { what: `list the services${dc ? ` of ${dc}` : ''}`, access: 'read the services of', target: dc ?? 'the local datacenter' };
    const [res, body] = await this.#call(op, signal, this.#timeout(block), (call) =>
      this.#client.catalog.service.list({ ...call, ...(dc ? { dc } : {}), ...(block ? { index: String(block.index), wait: `${block.waitMs}ms` } : {}) }),
    );
    const services = Object.fromEntries(
      Object.entries(body && typeof body === 'object' ? body : {})
        .sort(([a], [b]) => byString(a, b))
        .map(([name, tags]) => [name, [...new Set(tags ?? [])].sort(byString)]),
    );
    return { index: indexOf(res), services, knownLeader: header(res, 'x-consul-knownleader') !== 'false' };
  }

  services(opts: KVReadOptions & { dc?: string } = {}): Promise<ServicesSnapshot> {
    return this.#services(opts.dc, opts.signal);
  }

  watchServices(since: KVIndex, opts: KVWatchOptions & { dc?: string }): Promise<ServicesSnapshot> {
    const index = Math.floor(since);
    if (!(index > 0)) return this.#services(opts.dc, opts.signal);
    return this.#services(opts.dc, opts.signal, { index, waitMs: Math.max(1, Math.round(opts.waitMs ?? DEFAULT_WAIT_MS)) });
  }

  close(): void {
    this.#closing.abort();
    this.#client.destroy();
  }
}
