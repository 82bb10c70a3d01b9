/**
 * The catalog seam: a read-only view of a service catalog with health (Consul's catalog and
 * health endpoints). A store that has one offers it as `store.catalog`; the renderer reads and
 * watches services through it as it reads and watches keys through KVReader and KVWatcher.
 */
import { isHostOrAddress, isPort } from '@confd-haproxy/schema';
import { watchIndexed, type WatchIndexedOptions } from './watch.js';
import type { CatalogReader, HealthReadOptions, HealthSnapshot, ServiceInstance, ServiceQuery, ServicesSnapshot, ServiceStatus } from './types.js';

// The catalog's types live in types.ts (the seam's base file); re-exported here for importers.
export type { CatalogReader, HealthReadOptions, HealthSnapshot, ServiceInstance, ServiceQuery, ServicesSnapshot, ServiceStatus } from './types.js';

const QUERY = /^(?:([\w.-]+)\.)?([\w/-]+)(?:@([\w.-]+))?$/;

/** "tag.name@dc" → its parts (consul-template's grammar, without the deprecated ":port"). */
export function parseServiceQuery(text: string): ServiceQuery | undefined {
  const m = QUERY.exec(text.trim());
  if (!m) return undefined;
  return { name: m[2]!, ...(m[1] ? { tag: m[1] } : {}), ...(m[3] ? { dc: m[3] } : {}) };
}

/** The canonical text of a query: "tag.name@dc". */
export function serviceQueryText(q: ServiceQuery): string {
  return `${q.tag ? `${q.tag}.` : ''}${q.name}${q.dc ? `@${q.dc}` : ''}`;
}

/** "passing,warning" → a status filter; undefined for "" (passing only). Throws on an unknown status. */
export function parseStatusFilter(text: string): 'any' | ServiceStatus[] | undefined {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) return undefined;
  if (parts.includes('any')) {
    if (parts.length > 1) throw new Error(`status filter "${text}": "any" cannot be combined with other statuses`);
    return 'any';
  }
  for (const p of parts) if (!['passing', 'warning', 'critical'].includes(p)) throw new Error(`status filter "${text}": unknown status "${p}" (passing, warning, critical or any)`);
  return [...new Set(parts)] as ServiceStatus[];
}

export function sameInstances(a: readonly ServiceInstance[], b: readonly ServiceInstance[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What a catalog string may print as in a message: quoted (it is someone else's text), and short. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}

/** The key an instance is reported under (bad entries, metrics): what makes it one in Consul. */
export function instanceKey(i: Pick<ServiceInstance, 'name' | 'nodeDatacenter' | 'node' | 'id'>): string {
  return `service:${i.name}${i.nodeDatacenter ? `@${i.nodeDatacenter}` : ''}/${i.node}/${i.id}`;
}

/** How messages name an instance. */
export function instanceLabel(i: Pick<ServiceInstance, 'name' | 'node' | 'id'>): string {
  return `service ${quoted(i.name)} instance ${quoted(i.id)} on node ${quoted(i.node)}`;
}

/** The key a service of a datacenter's service list is reported under. */
export function listedServiceKey(dc: string, name: string): string {
  return `services:${dc ? `@${dc}` : ''}/${name}`;
}

/** A field of an instance that cannot be a server's address or port. */
export interface InstanceProblem {
  field: 'NodeAddress' | 'Address' | 'Port';
  /** "service "web" instance "web-9" on node "n1": Address "…" is not an IP address or host name". */
  message: string;
}

/**
 * Why an instance must not reach a template, or undefined: Consul takes any string as an address
 * and any number as a port, and templates write them as words of a server line.
 */
export function instanceProblem(i: ServiceInstance): InstanceProblem | undefined {
  const bad = (field: InstanceProblem['field'], what: string): InstanceProblem => ({ field, message: `${instanceLabel(i)}: ${field} ${what}` });
  // The node's first: an instance without an address of its own has its node's.
  if (!isHostOrAddress(i.nodeAddress)) return bad('NodeAddress', `${quoted(i.nodeAddress)} is not an IP address or host name`);
  if (!isHostOrAddress(i.address)) return bad('Address', `${quoted(i.address)} is not an IP address or host name`);
  if (!isPort(i.port)) return bad('Port', `${JSON.stringify(i.port)} is not a port number (1..65535)`);
  return undefined;
}

/** The options of watchHealth and watchServices: watchPrefix's, over catalog answers. */
export type WatchCatalogOptions<S> = WatchIndexedOptions<S>;

/** Yield the service's first health answer, then one per real change, until the signal fires. */
export function watchHealth(catalog: CatalogReader, query: ServiceQuery, opts: WatchCatalogOptions<HealthSnapshot> & Pick<HealthReadOptions, 'status'>): AsyncGenerator<HealthSnapshot> {
  const status = opts.status ? { status: opts.status } : {};
  return watchIndexed((since, o) => catalog.watchHealth(query, since, { ...o, ...status }), (a, b) => sameInstances(a.instances, b.instances), opts);
}

/** Yield the datacenter's service list, then one per real change. */
export function watchServices(catalog: CatalogReader, opts: WatchCatalogOptions<ServicesSnapshot> & { dc?: string }): AsyncGenerator<ServicesSnapshot> {
  const dc = opts.dc ? { dc: opts.dc } : {};
  return watchIndexed((since, o) => catalog.watchServices(since, { ...o, ...dc }), (a, b) => JSON.stringify(a.services) === JSON.stringify(b.services), opts);
}
