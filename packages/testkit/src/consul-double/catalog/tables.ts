// The catalog's state, where the catalog starts: nodes, services and checks per datacenter, the
// table indexes blocking queries watch, and the writes every endpoint builds on (each keeps them).
import { randomUUID } from 'node:crypto';
import { ApiError } from '../api-error.js';

export type CheckStatus = 'passing' | 'warning' | 'critical';

/** A request body or an answer, as JSON. */
export type Json = Record<string, unknown>;

export interface Node {
  id: string;
  node: string;
  address: string;
  taggedAddresses: Record<string, string> | null;
  meta: Record<string, string> | null;
  createIndex: number;
  modifyIndex: number;
}

export interface Service {
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

export interface Check {
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

export interface Datacenter {
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

/** The key of a service or check in its datacenter's table. */
export const k = (node: string, id: string) => `${node}\0${id}`;
export const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
export const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const AGENT_ADDRESS = '127.0.0.1';

export class CatalogTables {
  readonly opts: CatalogOptions;
  readonly #dcs = new Map<string, Datacenter>();

  constructor(opts: CatalogOptions) {
    this.opts = opts;
    for (const name of opts.datacenters) {
      this.#dcs.set(name, { nodes: new Map(), services: new Map(), checks: new Map(), nodesIndex: 1, servicesIndex: 1, serviceIndex: new Map(), extinctionIndex: 1 });
    }
    // The agent joins its datacenter: its node, serfHealth and the "consul" server service, at
    // index 1, so the double's first write still takes index 2 as before the catalog existed.
    const idx = 1;
    const dc = this.dc(undefined);
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
    const dc = this.dc(undefined);
    if (dc.nodes.has(node)) throw new Error(`the node "${node}" is already in the catalog`);
    const idx = this.opts.bump();
    this.#addAgentNode(dc, node, idx);
    this.touchNode(dc, node, idx);
    this.opts.notify();
  }

  #addAgentNode(dc: Datacenter, node: string, idx: number) {
    const a = AGENT_ADDRESS;
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
    const dc = this.dc(undefined);
    if (!dc.nodes.has(node)) throw new ApiError(500, 'Missing node registration');
    for (const id of checks) {
      const c = dc.checks.get(k(node, id));
      if (!c) throw new ApiError(500, `Missing check '${id}' registration`);
      if (c.status === 'critical') throw new ApiError(500, `Check '${id}' is in critical state`);
    }
  }

  /** The datacenter a request names (`?dc=`), the local one without it. */
  dc(name: string | undefined): Datacenter {
    const dc = this.#dcs.get(name || this.opts.datacenters[0]!);
    // Consul's answer for a datacenter it has no route to.
    if (!dc) throw new ApiError(500, 'No path to datacenter');
    return dc;
  }

  // --- indexes ----------------------------------------------------------------------------
  /** X-Consul-Index of /v1/health/service/<name> and /v1/catalog/service/<name>. */
  serviceIndex(dcName: string | undefined, name: string): number {
    const dc = this.dc(dcName);
    return dc.serviceIndex.get(name) ?? Math.max(dc.nodesIndex, dc.extinctionIndex);
  }

  /** X-Consul-Index of /v1/catalog/services. */
  servicesIndex(dcName: string | undefined): number {
    return this.dc(dcName).servicesIndex;
  }

  /** A service name changed at `idx`: its own index, and the services table when the set of services changed. */
  touchService(dc: Datacenter, name: string, idx: number, table: boolean) {
    if ([...dc.services.values()].some((s) => s.service === name)) dc.serviceIndex.set(name, idx);
    else if (dc.serviceIndex.delete(name)) dc.extinctionIndex = idx;
    if (table) dc.servicesIndex = idx;
  }

  /** A node-level check changed: every service on the node sees it in its health. */
  touchNode(dc: Datacenter, node: string, idx: number) {
    for (const s of dc.services.values()) if (s.node === node) dc.serviceIndex.set(s.service, idx);
    dc.nodesIndex = idx;
  }

  /** A snapshot restore: every catalog index drops to `idx`. */
  resetIndexes(idx: number): void {
    for (const dc of this.#dcs.values()) {
      dc.nodesIndex = dc.servicesIndex = dc.extinctionIndex = idx;
      for (const name of dc.serviceIndex.keys()) dc.serviceIndex.set(name, idx);
      for (const x of [...dc.nodes.values(), ...dc.services.values(), ...dc.checks.values()]) x.createIndex = x.modifyIndex = idx;
    }
  }

  // --- writes -----------------------------------------------------------------------------
  /** Store a service; an identical one is no write (Consul's ensureService skips it). */
  putService(dc: Datacenter, s: Omit<Service, 'createIndex' | 'modifyIndex'>, idx: number): boolean {
    const key = k(s.node, s.id);
    const cur = dc.services.get(key);
    if (cur && sameJson({ ...cur, createIndex: 0, modifyIndex: 0 }, { ...s, createIndex: 0, modifyIndex: 0 })) return false;
    dc.services.set(key, { ...s, createIndex: cur?.createIndex ?? idx, modifyIndex: idx });
    if (cur && cur.service !== s.service) this.touchService(dc, cur.service, idx, true);
    this.touchService(dc, s.service, idx, true);
    return true;
  }

  /** Store a check; only a new check, a new status or new text is a write. */
  putCheck(dc: Datacenter, c: Omit<Check, 'createIndex' | 'modifyIndex'>, idx: number): boolean {
    const key = k(c.node, c.checkId);
    const cur = dc.checks.get(key);
    if (cur && sameJson({ ...cur, createIndex: 0, modifyIndex: 0 }, { ...c, createIndex: 0, modifyIndex: 0 })) return false;
    dc.checks.set(key, { ...c, createIndex: cur?.createIndex ?? idx, modifyIndex: idx });
    const svc = c.serviceId ? dc.services.get(k(c.node, c.serviceId)) : undefined;
    if (svc) dc.serviceIndex.set(svc.service, idx);
    else this.touchNode(dc, c.node, idx);
    return true;
  }

  dropService(dc: Datacenter, node: string, id: string, idx: number): boolean {
    const s = dc.services.get(k(node, id));
    if (!s) return false;
    dc.services.delete(k(node, id));
    for (const c of [...dc.checks.values()]) if (c.node === node && c.serviceId === id) dc.checks.delete(k(node, c.checkId));
    this.touchService(dc, s.service, idx, true);
    return true;
  }

  dropCheck(dc: Datacenter, node: string, id: string, idx: number): boolean {
    const c = dc.checks.get(k(node, id));
    if (!c) return false;
    dc.checks.delete(k(node, id));
    const svc = c.serviceId ? dc.services.get(k(node, c.serviceId)) : undefined;
    if (svc) dc.serviceIndex.set(svc.service, idx);
    else this.touchNode(dc, node, idx);
    return true;
  }
}
