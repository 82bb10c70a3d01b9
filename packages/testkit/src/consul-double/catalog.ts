// The catalog and health state of the Consul double: nodes, services and checks per datacenter,
// the agents' services with TTL checks, and the table indexes blocking queries watch. Writes are
// vetted against the request's ACL token as Consul's catalog and agent endpoints vet them.
import { randomUUID } from 'node:crypto';
import type { AclAccess, AclResource } from './acl.js';
import { parseGoDuration } from './duration.js';

/** What the request's token may do (everything when ACLs are off). */
export type Allows = (resource: AclResource, access: AclAccess, segment: string) => boolean;

export type CheckStatus = 'passing' | 'warning' | 'critical';
const STATUSES = new Set<string>(['passing', 'warning', 'critical']);

interface Node {
  id: string;
  node: string;
  address: string;
  taggedAddresses: Record<string, string> | null;
  meta: Record<string, string> | null;
  createIndex: number;
  modifyIndex: number;
}

interface Service {
  node: string;
  id: string;
  service: string;
  tags: string[] | null;
  address: string;
  meta: Record<string, string> | null;
  port: number;
  weights: { Passing: number; Warning: number };
  enableTagOverride: boolean;
  createIndex: number;
  modifyIndex: number;
}

interface Check {
  node: string;
  checkId: string;
  name: string;
  status: CheckStatus;
  notes: string;
  output: string;
  serviceId: string;
  type: string;
  createIndex: number;
  modifyIndex: number;
}

interface Datacenter {
  nodes: Map<string, Node>;
  /** node + "\0" + service ID */
  services: Map<string, Service>;
  /** node + "\0" + check ID */
  checks: Map<string, Check>;
  /** Raft index of the last change to each table, and per service name (Consul's "service.<name>"). */
  nodesIndex: number;
  servicesIndex: number;
  serviceIndex: Map<string, number>;
  /** The last write that removed a service's last instance (Consul's "service_extinction"). */
  extinctionIndex: number;
}

/** A failed request: the status and body Consul answers with. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string) => new ApiError(400, message);
const denied = () => new ApiError(403, 'Permission denied');
const k = (node: string, id: string) => `${node}\0${id}`;
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface CatalogOptions {
  /** The first agent's node name (a server: it also runs the "consul" service). */
  nodeName: string;
  /** The local datacenter first; default ["dc1"]. */
  datacenters: string[];
  /** Takes the next Raft index. */
  bump: () => number;
  /** Tell held blocking queries that something changed. */
  notify: () => void;
}

type Json = Record<string, unknown>;
/** One instance of GET /v1/health/service/<name>. */
export interface HealthEntry {
  Node: Json & { Node: string };
  Service: Json & { Service: string };
  Checks: Json[];
}

const str = (v: unknown, what: string): string => {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw bad(`Request decode failed: ${what} must be a string`);
  return v;
};
const strMap = (v: unknown, what: string): Record<string, string> | null => {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw bad(`Request decode failed: ${what} must be a map of strings`);
  }
  return { ...(v as Record<string, string>) };
};
const strList = (v: unknown, what: string): string[] | null => {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`Request decode failed: ${what} must be a list of strings`);
  return [...(v as string[])];
};
const port = (v: unknown): number => {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw bad('Request decode failed: Port must be a whole number 0..65535');
  return v;
};
const weights = (v: unknown): { Passing: number; Warning: number } => {
  if (v === undefined || v === null) return { Passing: 1, Warning: 1 };
  const w = v as { Passing?: unknown; Warning?: unknown };
  const passing = w.Passing ?? 1;
  const warning = w.Warning ?? 1;
  if (typeof passing !== 'number' || typeof warning !== 'number') throw bad('Request decode failed: Weights must hold numbers');
  if (passing < 1) throw bad('Passing must be greater than 0');
  if (warning < 0) throw bad('Warning must be greater or equal than 0');
  return { Passing: passing, Warning: warning };
};
const status = (v: unknown, dflt: CheckStatus): CheckStatus => {
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v !== 'string' || !STATUSES.has(v)) throw bad(`Invalid check status: "${String(v)}"`);
  return v as CheckStatus;
};

export class Catalog {
  readonly #opts: CatalogOptions;
  readonly #dcs = new Map<string, Datacenter>();
  /** The agents' TTL checks: node + "\0" + check ID → TTL and its expiry timer. */
  readonly #ttl = new Map<string, { ttlMs: number; timer?: NodeJS.Timeout; lastOutput: string }>();
  readonly #agentAddress = '127.0.0.1';

  constructor(opts: CatalogOptions) {
    this.#opts = opts;
    for (const name of opts.datacenters) {
      this.#dcs.set(name, { nodes: new Map(), services: new Map(), checks: new Map(), nodesIndex: 1, servicesIndex: 1, serviceIndex: new Map(), extinctionIndex: 1 });
    }
    // The agent joins its datacenter: its node, serfHealth and the "consul" server service, at
    // index 1, so the double's first write still takes index 2 as before the catalog existed.
    const idx = 1;
    const dc = this.#dc(undefined);
    this.#addAgentNode(dc, opts.nodeName, idx);
    dc.services.set(k(opts.nodeName, 'consul'), {
      node: opts.nodeName,
      id: 'consul',
      service: 'consul',
      tags: [],
      address: '',
      meta: { raft_version: '3', serf_protocol_current: '2', serf_protocol_max: '5', serf_protocol_min: '1', version: '1.20.0' },
      port: 8300,
      weights: { Passing: 1, Warning: 1 },
      enableTagOverride: false,
      createIndex: idx,
      modifyIndex: idx,
    });
    dc.nodesIndex = dc.servicesIndex = idx;
    dc.serviceIndex.set('consul', idx);
  }

  /** Another client agent joins the local datacenter: its node with a passing serfHealth. */
  joinAgent(node: string): void {
    const dc = this.#dc(undefined);
    if (dc.nodes.has(node)) throw new Error(`the node "${node}" is already in the catalog`);
    const idx = this.#opts.bump();
    this.#addAgentNode(dc, node, idx);
    this.#touchNode(dc, node, idx);
    this.#opts.notify();
  }

  #addAgentNode(dc: Datacenter, node: string, idx: number) {
    const a = this.#agentAddress;
    dc.nodes.set(node, {
      id: randomUUID(),
      node,
      address: a,
      taggedAddresses: { lan: a, lan_ipv4: a, wan: a, wan_ipv4: a },
      meta: { 'consul-network-segment': '' },
      createIndex: idx,
      modifyIndex: idx,
    });
    dc.checks.set(k(node, 'serfHealth'), {
      node,
      checkId: 'serfHealth',
      name: 'Serf Health Status',
      status: 'passing',
      notes: '',
      output: 'Agent alive and reachable',
      serviceId: '',
      type: '',
      createIndex: idx,
      modifyIndex: idx,
    });
  }

  /** A session's node and its checks, as Consul's state store checks them when a session is created. */
  sessionChecks(node: string, checks: readonly string[]): void {
    const dc = this.#dc(undefined);
    if (!dc.nodes.has(node)) throw new ApiError(500, 'Missing node registration');
    for (const id of checks) {
      const c = dc.checks.get(k(node, id));
      if (!c) throw new ApiError(500, `Missing check '${id}' registration`);
      if (c.status === 'critical') throw new ApiError(500, `Check '${id}' is in critical state`);
    }
  }

  /** The datacenter a request names (`?dc=`), the local one without it. */
  #dc(name: string | undefined): Datacenter {
    const dc = this.#dcs.get(name || this.#opts.datacenters[0]!);
    // Consul's answer for a datacenter it has no route to.
    if (!dc) throw new ApiError(500, 'No path to datacenter');
    return dc;
  }

  // --- indexes ----------------------------------------------------------------------------
  /** X-Consul-Index of /v1/health/service/<name> and /v1/catalog/service/<name>. */
  serviceIndex(dcName: string | undefined, name: string): number {
    const dc = this.#dc(dcName);
    return dc.serviceIndex.get(name) ?? Math.max(dc.nodesIndex, dc.extinctionIndex);
  }

  /** X-Consul-Index of /v1/catalog/services. */
  servicesIndex(dcName: string | undefined): number {
    return this.#dc(dcName).servicesIndex;
  }

  /** A service name changed at `idx`: its own index, and the services table when the set of services changed. */
  #touchService(dc: Datacenter, name: string, idx: number, table: boolean) {
    if ([...dc.services.values()].some((s) => s.service === name)) dc.serviceIndex.set(name, idx);
    else if (dc.serviceIndex.delete(name)) dc.extinctionIndex = idx;
    if (table) dc.servicesIndex = idx;
  }

  /** A node-level check changed: every service on the node sees it in its health. */
  #touchNode(dc: Datacenter, node: string, idx: number) {
    for (const s of dc.services.values()) if (s.node === node) dc.serviceIndex.set(s.service, idx);
    dc.nodesIndex = idx;
  }

  // --- reads ------------------------------------------------------------------------------
  /** GET /v1/catalog/services: name → tags (deduplicated, sorted). */
  services(dcName: string | undefined): Record<string, string[]> {
    const out = new Map<string, Set<string>>();
    for (const s of this.#dc(dcName).services.values()) {
      const tags = out.get(s.service) ?? new Set<string>();
      for (const t of s.tags ?? []) tags.add(t);
      out.set(s.service, tags);
    }
    return Object.fromEntries([...out].sort(([a], [b]) => byString(a, b)).map(([n, tags]) => [n, [...tags].sort(byString)]));
  }

  /** GET /v1/health/service/<name>: one entry per instance, with its node's checks and its own. */
  health(dcName: string | undefined, name: string, opts: { tags: string[]; passing: boolean }): HealthEntry[] {
    const dc = this.#dc(dcName);
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
      out.push({ Node: this.#nodeJson(dcName, node), Service: serviceJson(s), Checks: checks.map((c) => checkJson(c, dc)) });
    }
    return out;
  }

  #nodeJson(dcName: string | undefined, n: Node): Json & { Node: string } {
    return {
      ID: n.id,
      Node: n.node,
      Address: n.address,
      Datacenter: dcName || this.#opts.datacenters[0],
      TaggedAddresses: n.taggedAddresses,
      Meta: n.meta,
      CreateIndex: n.createIndex,
      ModifyIndex: n.modifyIndex,
    };
  }

  // --- catalog writes ---------------------------------------------------------------------
  /** PUT /v1/catalog/register. */
  register(dcName: string | undefined, body: Json, allows: Allows): void {
    const dc = this.#dc(typeof body.Datacenter === 'string' && body.Datacenter ? body.Datacenter : dcName);
    const nodeName = str(body.Node, 'Node');
    if (!nodeName) throw bad('Must provide node');
    const address = str(body.Address, 'Address');
    const skipNodeUpdate = body.SkipNodeUpdate === true;
    if (!address && !skipNodeUpdate) throw bad('Must provide address if SkipNodeUpdate is not set');
    const svcBody = body.Service as Json | undefined | null;
    const service = svcBody ? this.#serviceFrom(svcBody, nodeName) : undefined;
    if (service && !service.service) throw bad('Must provide service name (Service.Service) with ID');
    const checkBodies = [...(body.Check ? [body.Check] : []), ...(Array.isArray(body.Checks) ? body.Checks : [])] as Json[];
    const checks = checkBodies.map((c) => {
      const id = str(c.CheckID, 'CheckID');
      if (!id) throw bad('Must provide a CheckID');
      const serviceId = str(c.ServiceID, 'ServiceID');
      return { checkId: id, name: str(c.Name, 'Name') || id, status: status(c.Status, 'critical'), notes: str(c.Notes, 'Notes'), output: str(c.Output, 'Output'), serviceId, type: '' };
    });
    const cur = dc.nodes.get(nodeName);
    const nodeFields = { id: str(body.ID, 'ID'), address, taggedAddresses: strMap(body.TaggedAddresses, 'TaggedAddresses'), meta: strMap(body.NodeMeta, 'NodeMeta') };
    const changesNode = !cur || (!skipNodeUpdate && !sameJson(nodeFields, { id: cur.id, address: cur.address, taggedAddresses: cur.taggedAddresses, meta: cur.meta }));
    this.#vetRegister(dc, allows, { node: nodeName, changesNode, ...(service ? { service } : {}), checks });
    const idx = this.#opts.bump();
    let changed = false;
    if (!skipNodeUpdate || !cur) {
      const next: Node = {
        id: str(body.ID, 'ID') || cur?.id || '',
        node: nodeName,
        address: address || cur?.address || '',
        taggedAddresses: strMap(body.TaggedAddresses, 'TaggedAddresses'),
        meta: strMap(body.NodeMeta, 'NodeMeta'),
        createIndex: cur?.createIndex ?? idx,
        modifyIndex: idx,
      };
      if (!cur || !sameJson({ ...cur, modifyIndex: 0 }, { ...next, modifyIndex: 0 })) {
        dc.nodes.set(nodeName, next);
        this.#touchNode(dc, nodeName, idx);
        changed = true;
      }
    }
    if (service) changed = this.#putService(dc, service, idx) || changed;
    for (const c of checks) changed = this.#putCheck(dc, { node: nodeName, ...c }, idx) || changed;
    if (changed) this.#opts.notify();
  }

  /**
   * Consul's vetRegisterWithACL: node write to create or change the node, service write on the
   * service and on the one its ID replaces, node write for a node check, service write for a check
   * of another service already on the node.
   */
  #vetRegister(dc: Datacenter, allows: Allows, r: { node: string; changesNode: boolean; service?: { id: string; service: string }; checks: { checkId: string; serviceId: string }[] }) {
    if (r.changesNode && !allows('node', 'write', r.node)) throw denied();
    if (r.service) {
      if (!allows('service', 'write', r.service.service)) throw denied();
      const replaced = dc.services.get(k(r.node, r.service.id));
      if (replaced && !allows('service', 'write', replaced.service)) throw denied();
    }
    for (const c of r.checks) {
      if (!c.serviceId) {
        if (!allows('node', 'write', r.node)) throw denied();
        continue;
      }
      if (r.service?.id === c.serviceId) continue;
      const other = dc.services.get(k(r.node, c.serviceId));
      if (!other) throw new ApiError(500, `Unknown service ID '${c.serviceId}' for check ID '${c.checkId}'`);
      if (!allows('service', 'write', other.service)) throw denied();
    }
  }

  /** PUT /v1/catalog/deregister: a node with all it holds, one service with its checks, or one check. */
  deregister(dcName: string | undefined, body: Json, allows: Allows): void {
    const dc = this.#dc(typeof body.Datacenter === 'string' && body.Datacenter ? body.Datacenter : dcName);
    const nodeName = str(body.Node, 'Node');
    if (!nodeName) throw bad('Must provide node');
    const serviceId = str(body.ServiceID, 'ServiceID');
    const checkId = str(body.CheckID, 'CheckID');
    this.#vetDeregister(dc, allows, nodeName, serviceId, checkId);
    const idx = this.#opts.bump();
    let changed = false;
    if (serviceId) changed = this.#dropService(dc, nodeName, serviceId, idx);
    else if (checkId) changed = this.#dropCheck(dc, nodeName, checkId, idx);
    else if (dc.nodes.has(nodeName)) {
      for (const s of [...dc.services.values()]) if (s.node === nodeName) this.#dropService(dc, nodeName, s.id, idx);
      for (const c of [...dc.checks.values()]) if (c.node === nodeName) dc.checks.delete(k(nodeName, c.checkId));
      dc.nodes.delete(nodeName);
      dc.nodesIndex = idx;
      changed = true;
    }
    if (changed) this.#opts.notify();
  }

  /** Consul's vetDeregisterWithACL: node write allows it all; else service write on the service (or the check's service). */
  #vetDeregister(dc: Datacenter, allows: Allows, node: string, serviceId: string, checkId: string) {
    if (allows('node', 'write', node)) return;
    if (serviceId) {
      const s = dc.services.get(k(node, serviceId));
      if (!s) throw new ApiError(500, `Unknown service ID '${serviceId}'`);
      if (!allows('service', 'write', s.service)) throw denied();
    } else if (checkId) {
      const c = dc.checks.get(k(node, checkId));
      if (!c) throw new ApiError(500, `Unknown check ID '${checkId}'`);
      const svc = c.serviceId ? dc.services.get(k(node, c.serviceId)) : undefined;
      if (!svc || !allows('service', 'write', svc.service)) throw denied();
    } else throw denied();
  }

  #serviceFrom(b: Json, node: string): Omit<Service, 'createIndex' | 'modifyIndex'> {
    const name = str(b.Service ?? b.Name, 'Service');
    return {
      node,
      id: str(b.ID, 'ID') || name,
      service: name,
      tags: strList(b.Tags, 'Tags'),
      address: str(b.Address, 'Address'),
      meta: strMap(b.Meta, 'Meta'),
      port: port(b.Port),
      weights: weights(b.Weights),
      enableTagOverride: b.EnableTagOverride === true,
    };
  }

  /** Store a service; an identical one is no write (Consul's ensureService skips it). */
  #putService(dc: Datacenter, s: Omit<Service, 'createIndex' | 'modifyIndex'>, idx: number): boolean {
    const key = k(s.node, s.id);
    const cur = dc.services.get(key);
    if (cur && sameJson({ ...cur, createIndex: 0, modifyIndex: 0 }, { ...s, createIndex: 0, modifyIndex: 0 })) return false;
    dc.services.set(key, { ...s, createIndex: cur?.createIndex ?? idx, modifyIndex: idx });
    if (cur && cur.service !== s.service) this.#touchService(dc, cur.service, idx, true);
    this.#touchService(dc, s.service, idx, true);
    return true;
  }

  /** Store a check; only a new check, a new status or new text is a write. */
  #putCheck(dc: Datacenter, c: Omit<Check, 'createIndex' | 'modifyIndex'>, idx: number): boolean {
    const key = k(c.node, c.checkId);
    const cur = dc.checks.get(key);
    if (cur && sameJson({ ...cur, createIndex: 0, modifyIndex: 0 }, { ...c, createIndex: 0, modifyIndex: 0 })) return false;
    dc.checks.set(key, { ...c, createIndex: cur?.createIndex ?? idx, modifyIndex: idx });
    const svc = c.serviceId ? dc.services.get(k(c.node, c.serviceId)) : undefined;
    if (svc) dc.serviceIndex.set(svc.service, idx);
    else this.#touchNode(dc, c.node, idx);
    return true;
  }

  #dropService(dc: Datacenter, node: string, id: string, idx: number): boolean {
    const s = dc.services.get(k(node, id));
    if (!s) return false;
    dc.services.delete(k(node, id));
    for (const c of [...dc.checks.values()]) if (c.node === node && c.serviceId === id) dc.checks.delete(k(node, c.checkId));
    this.#touchService(dc, s.service, idx, true);
    return true;
  }

  #dropCheck(dc: Datacenter, node: string, id: string, idx: number): boolean {
    const c = dc.checks.get(k(node, id));
    if (!c) return false;
    dc.checks.delete(k(node, id));
    const svc = c.serviceId ? dc.services.get(k(node, c.serviceId)) : undefined;
    if (svc) dc.serviceIndex.set(svc.service, idx);
    else this.#touchNode(dc, node, idx);
    return true;
  }

  // --- the agents -------------------------------------------------------------------------
  /** PUT /v1/agent/service/register on the agent of `node`: a service on its node, with its TTL checks. */
  agentRegister(node: string, body: Json, allows: Allows): void {
    const name = str(body.Name, 'Name');
    if (!name) throw bad('Missing service name');
    const s = this.#serviceFrom({ ...body, Service: name }, node);
    const defs = [...(body.Check ? [body.Check] : []), ...(Array.isArray(body.Checks) ? body.Checks : [])] as Json[];
    const many = Array.isArray(body.Checks) && body.Checks.length > 0;
    const checks = defs.map((d, i) => {
      const ttlText = str(d.TTL, 'Check.TTL');
      if (!ttlText) throw bad('Check is not valid: only TTL checks are supported by this double');
      const ttlMs = parseGoDuration(ttlText);
      if (ttlMs === undefined || ttlMs <= 0) throw bad(`Request decode failed: time: invalid duration "${ttlText}"`);
      const checkId = str(d.CheckID ?? d.ID, 'CheckID') || (many ? `service:${s.id}:${i + 1}` : `service:${s.id}`);
      return { checkId, name: str(d.Name, 'Check.Name') || `Service '${name}' check`, notes: str(d.Notes, 'Check.Notes'), status: status(d.Status, 'critical'), ttlMs };
    });
    const dc = this.#dc(undefined);
    // Consul's vetServiceRegister: service write on the service and on the one its ID replaces (its checks are the service's).
    const replaced = dc.services.get(k(node, s.id));
    if (!allows('service', 'write', name) || (replaced && !allows('service', 'write', replaced.service))) throw denied();
    const idx = this.#opts.bump();
    // Re-registering replaces the service; its checks keep the status they had.
    const old = [...dc.checks.values()].filter((c) => c.node === node && c.serviceId === s.id);
    let changed = this.#putService(dc, s, idx);
    for (const c of old) {
      if (!checks.some((n) => n.checkId === c.checkId)) changed = this.#dropCheck(dc, c.node, c.checkId, idx) || changed;
    }
    for (const c of checks) {
      const prev = dc.checks.get(k(node, c.checkId));
      const st = prev && prev.serviceId === s.id ? { status: prev.status, output: prev.output } : { status: c.status, output: '' };
      changed = this.#putCheck(dc, { node, checkId: c.checkId, name: c.name, notes: c.notes, serviceId: s.id, type: 'ttl', ...st }, idx) || changed;
      this.#armTtl(node, c.checkId, c.ttlMs, prev?.output ?? '');
    }
    if (changed) this.#opts.notify();
  }

  /** PUT /v1/agent/service/deregister/<id> on the agent of `node`. */
  agentDeregister(node: string, id: string, allows: Allows): void {
    const dc = this.#dc(undefined);
    const s = dc.services.get(k(node, id));
    if (!s) throw new ApiError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
    if (!allows('service', 'write', s.service)) throw denied();
    for (const c of dc.checks.values()) if (c.node === node && c.serviceId === id) this.#disarmTtl(node, c.checkId);
    if (this.#dropService(dc, node, id, this.#opts.bump())) this.#opts.notify();
  }

  /** PUT /v1/agent/check/pass|warn|fail/<id>?note= on the agent of `node`: a TTL check's new status, and its TTL starts again. */
  agentCheckUpdate(node: string, id: string, next: CheckStatus, note: string, allows: Allows): void {
    const ttl = this.#ttl.get(k(node, id));
    const dc = this.#dc(undefined);
    const cur = dc.checks.get(k(node, id));
    if (!ttl || !cur) throw new ApiError(500, `CheckID "${id}" does not have associated TTL`);
    // Consul's vetCheckUpdate: service write for a service's check, node write for the node's own.
    const svc = cur.serviceId ? dc.services.get(k(node, cur.serviceId)) : undefined;
    if (svc ? !allows('service', 'write', svc.service) : !allows('node', 'write', node)) throw denied();
    ttl.lastOutput = note;
    this.#armTtl(node, id, ttl.ttlMs, note);
    this.#setStatus(node, id, next, note);
  }

  #setStatus(node: string, id: string, next: CheckStatus, output: string) {
    const dc = this.#dc(undefined);
    const cur = dc.checks.get(k(node, id));
    // The agent syncs a status change at once; an output-only change waits for its next full
    // sync (check_update_interval, 5 m), so it is no catalog write here.
    if (!cur || cur.status === next) return;
    if (this.#putCheck(dc, { ...cur, status: next, output }, this.#opts.bump())) this.#opts.notify();
  }

  #armTtl(node: string, id: string, ttlMs: number, lastOutput: string) {
    this.#disarmTtl(node, id);
    const entry: { ttlMs: number; timer?: NodeJS.Timeout; lastOutput: string } = { ttlMs, lastOutput };
    entry.timer = setTimeout(() => {
      const out = entry.lastOutput ? `TTL expired (last output before timeout follows): ${entry.lastOutput}` : 'TTL expired';
      this.#setStatus(node, id, 'critical', out);
    }, ttlMs);
    entry.timer.unref();
    this.#ttl.set(k(node, id), entry);
  }

  #disarmTtl(node: string, id: string) {
    const t = this.#ttl.get(k(node, id));
    if (t?.timer) clearTimeout(t.timer);
    this.#ttl.delete(k(node, id));
  }

  /** A snapshot restore: every catalog index drops to `idx`. */
  resetIndexes(idx: number): void {
    for (const dc of this.#dcs.values()) {
      dc.nodesIndex = dc.servicesIndex = dc.extinctionIndex = idx;
      for (const name of dc.serviceIndex.keys()) dc.serviceIndex.set(name, idx);
      for (const x of [...dc.nodes.values(), ...dc.services.values(), ...dc.checks.values()]) x.createIndex = x.modifyIndex = idx;
    }
  }

  /** Stop every TTL timer (the double closes). */
  close(): void {
    for (const t of this.#ttl.values()) if (t.timer) clearTimeout(t.timer);
    this.#ttl.clear();
  }
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
