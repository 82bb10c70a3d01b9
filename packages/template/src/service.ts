// consul-template's `service` and `services` functions over the catalog data the renderer read
// for a resource's declared services, with consul-template's field names.
import { instanceKey, instanceLabel, listedServiceKey, parseServiceQuery, parseStatusFilter, serviceQueryText, type ServiceInstance, type ServiceQuery } from '@confd-haproxy/kv';
import { TemplateProblem } from './errors.js';
import type { Helper, RenderScope, ServiceData } from './types.js';

export type { ServiceData } from './types.js';

/** One instance as templates see it: consul-template's HealthService fields. */
export interface ServiceView {
  Node: string;
  NodeID: string;
  NodeAddress: string;
  NodeDatacenter: string;
  NodeMeta: Record<string, string>;
  Address: string;
  ID: string;
  Name: string;
  Tags: string[];
  Meta: Record<string, string>;
  ServiceMeta: Record<string, string>;
  Port: number;
  Status: string;
  Weights: { Passing: number; Warning: number };
}

const fail = (helper: string, message: string): never => {
  throw new TemplateProblem('TEMPLATE_HELPER', `${helper}: ${message}`);
};

function view(i: ServiceInstance): ServiceView {
  return {
    Node: i.node,
    NodeID: i.nodeId,
    NodeAddress: i.nodeAddress,
    NodeDatacenter: i.nodeDatacenter,
    NodeMeta: { ...i.nodeMeta },
    Address: i.address,
    ID: i.id,
    Name: i.name,
    Tags: [...i.tags],
    Meta: { ...i.meta },
    ServiceMeta: { ...i.meta },
    Port: i.port,
    Status: i.status,
    Weights: { Passing: i.weights.passing, Warning: i.weights.warning },
  };
}

function catalogData(scope: RenderScope, helper: string): ServiceData {
  return scope.services ?? fail(helper, 'this resource declares no services (add services = ["name"] to its [template] table)');
}

/** The declared query that holds what `q` asks for: the same text, or the same name and datacenter without a tag. */
function declaredFor(data: ServiceData, q: ServiceQuery): { text: string; instances: readonly ServiceInstance[] } | undefined {
  const exact = serviceQueryText(q);
  const broad = serviceQueryText({ name: q.name, ...(q.dc ? { dc: q.dc } : {}) });
  for (const text of [exact, broad]) {
    const instances = data.health.get(text);
    if (instances) return { text, instances };
  }
  return undefined;
}

const metaFields = (what: string, meta: Record<string, string>): [string, string][] =>
  Object.entries(meta).flatMap(([k, v]): [string, string][] => [
    [`a key of ${what}`, k],
    [`${what}[${JSON.stringify(k)}]`, v],
  ]);

/** Every string of an instance a template may print, named by its field, for the injection guard. */
function taintInstance(s: RenderScope, i: ServiceInstance): void {
  const key = instanceKey(i);
  const fields: [string, string][] = [
    ['Node', i.node],
    ['NodeID', i.nodeId],
    ['NodeAddress', i.nodeAddress],
    ['NodeDatacenter', i.nodeDatacenter],
    ['Address', i.address],
    ['ID', i.id],
    ['Name', i.name],
    ...i.tags.map((t, n): [string, string] => [`Tags[${n}]`, t]),
    ...metaFields('Meta', i.meta),
    ...metaFields('NodeMeta', i.nodeMeta),
  ];
  for (const [field, text] of fields) s.taintCatalog(text, { key, label: `${instanceLabel(i)}: ${field}` });
}

/** A datacenter's service list, its names and tags, for the injection guard. */
function taintList(s: RenderScope, dc: string, list: Readonly<Record<string, readonly string[]>>): void {
  for (const [name, tags] of Object.entries(list)) {
    const key = listedServiceKey(dc, name);
    const at = `the services of ${dc ? `datacenter ${JSON.stringify(dc)}` : 'the local datacenter'}: service ${JSON.stringify(name)}`;
    s.taintCatalog(name, { key, label: `${at}: Name` });
    tags.forEach((t, n) => s.taintCatalog(t, { key, label: `${at}: Tags[${n}]` }));
  }
}

/** The data without the items (instances, listed services) under `keys`: what a render that refused them renders again. */
export function withoutItems(data: ServiceData, keys: ReadonlySet<string>): ServiceData {
  return {
    health: new Map([...data.health].map(([q, list]) => [q, list.filter((i) => !keys.has(instanceKey(i)))])),
    catalog: new Map([...data.catalog].map(([dc, list]) => [dc, Object.fromEntries(Object.entries(list).filter(([name]) => !keys.has(listedServiceKey(dc, name))))])),
  };
}

export const SERVICE_HELPERS: Readonly<Record<string, Helper>> = {
  /** service "tag.name@dc" ["passing,warning" | "any"]: the instances, passing only by default, sorted by node then ID. */
  service: (s, a) => {
    if (a.length < 1 || a.length > 2) fail('service', `takes 1 or 2 arguments, got ${a.length}`);
    const text = String(a[0] ?? '');
    const q = parseServiceQuery(text) ?? fail('service', `"${text}" is not a service query ("name", "tag.name", "name@dc")`);
    let filter: ReturnType<typeof parseStatusFilter>;
    try {
      filter = parseStatusFilter(a.length === 2 ? String(a[1] ?? '') : '');
    } catch (err) {
      return fail('service', (err as Error).message);
    }
    const data = catalogData(s, 'service');
    const found = declaredFor(data, q);
    if (!found) {
      const declared = [...data.health.keys()].map((k) => `"${k}"`).join(', ');
      return fail('service', `"${serviceQueryText(q)}" is not among the services this resource declares (${declared}): add it to services = [...] in its [template] table`);
    }
    const picked = found.instances
      .filter((i) => !q.tag || found.text === serviceQueryText(q) || i.tags.includes(q.tag))
      .filter((i) => (filter === undefined ? i.status === 'passing' : filter === 'any' || filter.includes(i.status)));
    for (const i of picked) taintInstance(s, i);
    return picked.map(view);
  },
  /** services ["@dc"]: every service name with its tags, as consul-template's CatalogSnippet list. */
  services: (s, a) => {
    if (a.length > 1) fail('services', `takes 0 or 1 argument, got ${a.length}`);
    const arg = a.length ? String(a[0] ?? '') : '';
    const m = /^(?:@([\w.-]+))?$/.exec(arg) ?? fail('services', `"${arg}" is not "@datacenter"`);
    const dc = m[1] ?? '';
    const data = catalogData(s, 'services');
    const list = data.catalog.get(dc) ?? fail('services', `the services of datacenter "${dc}" are not read by this resource: declare a service "name@${dc}" in services = [...]`);
    taintList(s, dc, list);
    return Object.entries(list).map(([Name, Tags]) => ({ Name, Tags: [...Tags] }));
  },
};
