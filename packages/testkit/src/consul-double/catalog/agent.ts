// The agents' own services: PUT /v1/agent/service/register|deregister and /v1/agent/check/
// pass|warn|fail on the agent of a node, with the TTL checks it runs and syncs to the catalog.
import type { Allows } from '../acl.js';
import { ApiError, bad, denied } from '../api-error.js';
import { parseGoDuration } from '../duration.js';
import { checkBodies, serviceFrom, status, str } from './decode.js';
import { k, type CatalogTables, type CheckStatus, type Json } from './tables.js';

interface TtlCheck {
  ttlMs: number;
  timer?: NodeJS.Timeout;
  lastOutput: string;
}

export class AgentServices {
  readonly #tables: CatalogTables;
  /** The agents' TTL checks: node + "\0" + check ID → TTL and its expiry timer. */
  readonly #ttl = new Map<string, TtlCheck>();

  constructor(tables: CatalogTables) {
    this.#tables = tables;
  }

  /** PUT /v1/agent/service/register on the agent of `node`: a service on its node, with its TTL checks. */
  register(node: string, body: Json, allows: Allows): void {
    const tables = this.#tables;
    const name = str(body.Name, 'Name');
    if (!name) throw bad('Missing service name');
    const s = serviceFrom({ ...body, Service: name }, node);
    const defs = checkBodies(body);
    const many = Array.isArray(body.Checks) && body.Checks.length > 0;
    const checks = defs.map((d, i) => {
      const ttlText = str(d.TTL, 'Check.TTL');
      if (!ttlText) throw bad('Check is not valid: only TTL checks are supported by this double');
      const ttlMs = parseGoDuration(ttlText);
      if (ttlMs === undefined || ttlMs <= 0) throw bad(`Request decode failed: time: invalid duration "${ttlText}"`);
      const checkId = str(d.CheckID ?? d.ID, 'CheckID') || (many ? `service:${s.id}:${i + 1}` : `service:${s.id}`);
      return { checkId, name: str(d.Name, 'Check.Name') || `Service '${name}' check`, notes: str(d.Notes, 'Check.Notes'), status: status(d.Status, 'critical'), ttlMs };
    });
    const dc = tables.dc(undefined);
    // Consul's vetServiceRegister: service write on the service and on the one its ID replaces (its checks are the service's).
    const replaced = dc.services.get(k(node, s.id));
    if (!allows('service', 'write', name) || (replaced && !allows('service', 'write', replaced.service))) throw denied();
    const idx = tables.opts.bump();
    // Re-registering replaces the service; its checks keep the status they had.
    const old = [...dc.checks.values()].filter((c) => c.node === node && c.serviceId === s.id);
    let changed = tables.putService(dc, s, idx);
    for (const c of old) {
      if (!checks.some((n) => n.checkId === c.checkId)) changed = tables.dropCheck(dc, c.node, c.checkId, idx) || changed;
    }
    for (const c of checks) {
      const prev = dc.checks.get(k(node, c.checkId));
      const st = prev && prev.serviceId === s.id ? { status: prev.status, output: prev.output } : { status: c.status, output: '' };
      changed = tables.putCheck(dc, { node, checkId: c.checkId, name: c.name, notes: c.notes, serviceId: s.id, type: 'ttl', ...st }, idx) || changed;
      this.#armTtl(node, c.checkId, c.ttlMs, prev?.output ?? '');
    }
    if (changed) tables.opts.notify();
  }

  /** PUT /v1/agent/service/deregister/<id> on the agent of `node`. */
  deregister(node: string, id: string, allows: Allows): void {
    const tables = this.#tables;
    const dc = tables.dc(undefined);
    const s = dc.services.get(k(node, id));
    if (!s) throw new ApiError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
    if (!allows('service', 'write', s.service)) throw denied();
    for (const c of dc.checks.values()) if (c.node === node && c.serviceId === id) this.#disarmTtl(node, c.checkId);
    if (tables.dropService(dc, node, id, tables.opts.bump())) tables.opts.notify();
  }

  /** PUT /v1/agent/check/pass|warn|fail/<id>?note= on the agent of `node`: a TTL check's new status, and its TTL starts again. */
  checkUpdate(node: string, id: string, next: CheckStatus, note: string, allows: Allows): void {
    const ttl = this.#ttl.get(k(node, id));
    const dc = this.#tables.dc(undefined);
    const cur = dc.checks.get(k(node, id));
    if (!ttl || !cur) throw new ApiError(500, `CheckID "${id}" does not have associated TTL`);
    // Consul's vetCheckUpdate: service write for a service's check, node write for the node's own.
    const svc = cur.serviceId ? dc.services.get(k(node, cur.serviceId)) : undefined;
    if (svc ? !allows('service', 'write', svc.service) : !allows('node', 'write', node)) throw denied();
    ttl.lastOutput = note;
    this.#armTtl(node, id, ttl.ttlMs, note);
    this.#setStatus(node, id, next, note);
  }

  /** Stop every TTL timer (the double closes). */
  close(): void {
    for (const t of this.#ttl.values()) if (t.timer) clearTimeout(t.timer);
    this.#ttl.clear();
  }

  #setStatus(node: string, id: string, next: CheckStatus, output: string) {
    const tables = this.#tables;
    const dc = tables.dc(undefined);
    const cur = dc.checks.get(k(node, id));
    // The agent syncs a status change at once; an output-only change waits for its next full
    // sync (check_update_interval, 5 m), so it is no catalog write here.
    if (!cur || cur.status === next) return;
    if (tables.putCheck(dc, { ...cur, status: next, output }, tables.opts.bump())) tables.opts.notify();
  }

  #armTtl(node: string, id: string, ttlMs: number, lastOutput: string) {
    this.#disarmTtl(node, id);
    const entry: TtlCheck = { ttlMs, lastOutput };
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
}
