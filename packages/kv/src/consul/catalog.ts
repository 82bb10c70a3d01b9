// Consul's catalog and health endpoints behind the catalog seam, through the npm `consul` client.
// As for KV: the token goes only in the X-Consul-Token header, X-Consul-Index is never below 1,
// and an index that went backwards is handed on as it is (the watch loop continues from it).
import type { CatalogReader, HealthReadOptions, HealthSnapshot, ServiceInstance, ServiceQuery, ServicesSnapshot, ServiceStatus } from '../catalog.js';
import { serviceQueryText } from '../catalog.js';
import type { KVIndex, KVReadOptions, KVWatchOptions } from '../types.js';
import type { ConsulConfig } from './config.js';
import { blockFrom, blockingTimeoutMs, ConsulConnection, indexOf, header, type Answer, type Call } from './client.js';

interface HealthEntry {
  Node?: { ID?: string; Node?: string; Address?: string; Datacenter?: string; Meta?: Record<string, string> | null };
  Service?: { ID?: string; Service?: string; Tags?: string[] | null; Address?: string; Meta?: Record<string, string> | null; Port?: number; Weights?: { Passing?: number; Warning?: number } | null };
  Checks?: { Status?: string }[] | null;
}
interface Client {
  health: { service(o: Call & { service: string; tag?: string; passing?: boolean; dc?: string; index?: string; wait?: string }): Answer<HealthEntry[]> };
  catalog: { service: { list(o: Call & { dc?: string; index?: string; wait?: string }): Answer<Record<string, string[] | null>> } };
  destroy(): void;
}

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
  readonly #consul: ConsulConnection<Client>;

  constructor(config: ConsulConfig) {
    this.#config = config;
    this.#consul = new ConsulConnection<Client>(config);
  }

  #timeout(block: { waitMs: number } | undefined) {
    return blockingTimeoutMs(block, this.#config.timeoutMs);
  }

  async #health(q: ServiceQuery, status: HealthReadOptions['status'], signal: AbortSignal | undefined, block?: { index: KVIndex; waitMs: number }): Promise<HealthSnapshot> {
    const text = serviceQueryText(q);
    const op = { what: `health of service "${text}"`, access: 'read the service', target: q.name };
    const [res, body] = await this.#consul.read(op, signal, this.#timeout(block), block, (call) =>
      this.#consul.client.health.service({
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
    return this.#health(query, opts.status, opts.signal, blockFrom(since, opts.waitMs));
  }

  async #services(dc: string | undefined, signal: AbortSignal | undefined, block?: { index: KVIndex; waitMs: number }): Promise<ServicesSnapshot> {
    const op = { what: `list the services${dc ? ` of ${dc}` : ''}`, access: 'read the services of', target: dc ?? 'the local datacenter' };
    const [res, body] = await this.#consul.read(op, signal, this.#timeout(block), block, (call) =>
      this.#consul.client.catalog.service.list({ ...call, ...(dc ? { dc } : {}), ...(block ? { index: String(block.index), wait: `${block.waitMs}ms` } : {}) }),
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
    return this.#services(opts.dc, opts.signal, blockFrom(since, opts.waitMs));
  }

  close(): void {
    this.#consul.close();
  }
}
