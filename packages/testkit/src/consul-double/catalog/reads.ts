// The catalog's queries: GET /v1/catalog/services and GET /v1/health/service/<name>, as Consul
// writes their JSON. The endpoints filter them by ACL and hold them on ?index.
import { byString, k, type CatalogTables, type Check, type Datacenter, type Json, type Node, type Service } from './tables.js';

/** One instance of GET /v1/health/service/<name>. */
export interface HealthEntry {
  Node: Json & { Node: string };
  Service: Json & { Service: string };
  Checks: Json[];
}

/** GET /v1/catalog/services: name → tags (deduplicated, sorted). */
export function services(tables: CatalogTables, dcName: string | undefined): Record<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const s of tables.dc(dcName).services.values()) {
    const tags = out.get(s.service) ?? new Set<string>();
    for (const t of s.tags ?? []) tags.add(t);
    out.set(s.service, tags);
  }
  return Object.fromEntries([...out].sort(([a], [b]) => byString(a, b)).map(([n, tags]) => [n, [...tags].sort(byString)]));
}

/** GET /v1/health/service/<name>: one entry per instance, with its node's checks and its own. */
export function health(tables: CatalogTables, dcName: string | undefined, name: string, opts: { tags: string[]; passing: boolean }): HealthEntry[] {
  const dc = tables.dc(dcName);
  const instances = [...dc.services.values()]
    .filter((s) => s.service === name && opts.tags.every((t) => (s.tags ?? []).includes(t)))
    .sort((a, b) => byString(a.node, b.node) || byString(a.id, b.id));
  const out: HealthEntry[] = [];
  for (const s of instances) {
    const checks = [...dc.checks.values()]
      .filter((c) => c.node === s.node && (c.serviceId === '' || c.serviceId === s.id))
      .sort((a, b) => byString(a.checkId, b.checkId));
    if (opts.passing && checks.some((c) => c.status !== 'passing')) continue;
    const node = dc.nodes.get(s.node)!;
    out.push({ Node: nodeJson(dcName || tables.opts.datacenters[0], node), Service: serviceJson(s), Checks: checks.map((c) => checkJson(c, dc)) });
  }
  return out;
}

function nodeJson(datacenter: string | undefined, n: Node): Json & { Node: string } {
  return {
    ID: n.id,
    Node: n.node,
    Address: n.address,
    Datacenter: datacenter,
    TaggedAddresses: n.taggedAddresses,
    Meta: n.meta,
    CreateIndex: n.createIndex,
    ModifyIndex: n.modifyIndex,
  };
}

function serviceJson(s: Service): Json & { Service: string } {
  return {
    ID: s.id,
    Service: s.service,
    Tags: s.tags,
    Address: s.address,
    Meta: s.meta,
    Port: s.port,
    Weights: s.weights,
    EnableTagOverride: s.enableTagOverride,
    Proxy: { Mode: '', MeshGateway: {}, Expose: {} },
    Connect: {},
    PeerName: '',
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  };
}

function checkJson(c: Check, dc: Datacenter): Json {
  const svc = c.serviceId ? dc.services.get(k(c.node, c.serviceId)) : undefined;
  return {
    Node: c.node,
    CheckID: c.checkId,
    Name: c.name,
    Status: c.status,
    Notes: c.notes,
    Output: c.output,
    ServiceID: c.serviceId,
    ServiceName: svc?.service ?? '',
    ServiceTags: svc?.tags ?? [],
    Type: c.type,
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: {},
    CreateIndex: c.createIndex,
    ModifyIndex: c.modifyIndex,
  };
}
