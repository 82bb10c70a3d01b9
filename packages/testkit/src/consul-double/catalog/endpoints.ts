// The routes under /v1/health, /v1/catalog and /v1/agent. Consul's catalog rules: reads leave out
// what the token may not read (an instance needs node and service read, a name in the services list
// service read) and block on ?index; writes are vetted where they are made.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Allows, Authorizer } from '../acl.js';
import { ApiError } from '../api-error.js';
import { blockingParams, type BlockedQueries } from '../blocking.js';
import { jsonBody, markFiltered, type Send } from '../http.js';
import type { AgentServices } from './agent.js';
import { health, services } from './reads.js';
import { deregister, register } from './register.js';
import type { CatalogTables, CheckStatus } from './tables.js';

/** ?passing, ?passing=true, ?passing=false as Consul parses them. */
const passingParam = (q: URLSearchParams): boolean => {
  if (!q.has('passing')) return false;
  const v = (q.get('passing') ?? '').toLowerCase();
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ApiError(400, 'Invalid value for ?passing');
};

export interface CatalogEndpointsConfig {
  tables: CatalogTables;
  agents: AgentServices;
  queries: BlockedQueries;
  send: Send;
}

export class CatalogEndpoints {
  readonly #c: CatalogEndpointsConfig;

  constructor(config: CatalogEndpointsConfig) {
    this.#c = config;
  }

  /** One request on the agent of `agentNode`; a failure is thrown as an ApiError. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams, auth: Authorizer, agentNode: string): Promise<void> {
    const { tables, agents, queries, send } = this.#c;
    const dc = q.get('dc') || undefined;
    const allows: Allows = auth.allows;
    const needs = (method: string) => {
      if (req.method !== method) throw new ApiError(405, `method ${req.method} not allowed`);
    };
    const read = async <T>(index: () => number, body: () => T[], visible: (item: T) => boolean) => {
      needs('GET');
      if (q.has('filter')) throw new ApiError(400, 'filter expressions are not supported by the Consul double');
      const p = blockingParams(q);
      if (typeof p === 'string') throw new ApiError(400, p);
      index(); // an unknown datacenter fails before the wait
      if (!(await queries.waitForChange(res, p, index))) return;
      // Without coordinates (the double has none) `near` leaves Consul's order as it is.
      const all = body();
      const seen = all.filter(visible);
      markFiltered(res, seen.length < all.length);
      return seen;
    };
    let m: RegExpExecArray | null;
    if ((m = /^\/v1\/health\/service\/([^/]+)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      const opts = { tags: q.getAll('tag'), passing: passingParam(q) };
      const index = () => tables.serviceIndex(dc, name);
      const seen = await read(index, () => health(tables, dc, name, opts), (e) => allows('node', 'read', e.Node.Node) && allows('service', 'read', e.Service.Service));
      if (seen) send(res, 200, seen, index());
      return;
    }
    if (path === '/v1/catalog/services') {
      const index = () => tables.servicesIndex(dc);
      const seen = await read(index, () => Object.entries(services(tables, dc)), ([name]) => allows('service', 'read', name));
      if (seen) send(res, 200, Object.fromEntries(seen), index());
      return;
    }
    if (path === '/v1/catalog/register' || path === '/v1/catalog/deregister') {
      needs('PUT');
      const body = await jsonBody(req);
      if (path.endsWith('/register')) register(tables, dc, body, allows);
      else deregister(tables, dc, body, allows);
      return send(res, 200, true);
    }
    if (path === '/v1/agent/service/register') {
      needs('PUT');
      agents.register(agentNode, await jsonBody(req), allows);
      return send(res, 200, '');
    }
    if ((m = /^\/v1\/agent\/service\/deregister\/([^/]+)$/.exec(path))) {
      needs('PUT');
      agents.deregister(agentNode, decodeURIComponent(m[1]!), allows);
      return send(res, 200, '');
    }
    if ((m = /^\/v1\/agent\/check\/(pass|warn|fail)\/([^/]+)$/.exec(path))) {
      needs('PUT');
      const next: CheckStatus = m[1] === 'pass' ? 'passing' : m[1] === 'warn' ? 'warning' : 'critical';
      agents.checkUpdate(agentNode, decodeURIComponent(m[2]!), next, q.get('note') ?? '', allows);
      return send(res, 200, '');
    }
    return send(res, 404, '');
  }
}
