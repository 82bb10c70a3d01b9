// One request to one agent: recorded, delayed or failed as the faults say, its token resolved,
// then handed to the KV, session or catalog endpoints by its path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestToken, type AclTable } from './acl.js';
import { ApiError } from './api-error.js';
import type { CatalogEndpoints } from './catalog/endpoints.js';
import type { Send } from './http.js';
import type { KvEndpoints } from './kv.js';
import type { RequestFaults } from './request-faults.js';
import type { SessionEndpoints } from './session-endpoints.js';
import type { State } from './state.js';
import type { RecordedRequest } from './types.js';

export interface RouterConfig {
  acl: AclTable;
  faults: RequestFaults;
  state: State;
  send: Send;
  kv: KvEndpoints;
  sessions: SessionEndpoints;
  catalog: CatalogEndpoints;
  /** Where every request is recorded; undefined keeps none. */
  requests: RecordedRequest[] | undefined;
}

export class Router {
  readonly #c: RouterConfig;
  /** Once closed, a request still waiting out a delay gets no answer. */
  closed = false;

  constructor(config: RouterConfig) {
    this.#c = config;
  }

  /** One request to the agent of `agentNode`. */
  async handle(req: IncomingMessage, res: ServerResponse, agentNode: string): Promise<void> {
    const { acl, faults, state, send, requests } = this.#c;
    if (requests) requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    if (faults.delayMs > 0) await faults.pause(faults.delayMs);
    if (this.closed || res.destroyed) return;
    const injected = faults.injected();
    if (injected) return send(res, injected.status, injected.body);
    const url = new URL(req.url ?? '/', 'http://double');
    const auth = acl.resolve(requestToken(req, url));
    if (auth === 'unknown') return send(res, 403, 'ACL not found');
    const path = url.pathname;
    if (path.startsWith('/v1/kv/') || path === '/v1/kv') {
      let key: string;
      try {
        key = decodeURIComponent(path.slice('/v1/kv/'.length));
      } catch {
        return send(res, 400, 'Invalid key encoding');
      }
      const q = url.searchParams;
      if (req.method === 'GET') return this.#c.kv.get(res, q, key, auth);
      if (req.method === 'PUT') return this.#c.kv.put(req, res, q, key, auth);
      if (req.method === 'DELETE') return this.#c.kv.delete(res, q, key, auth);
      return send(res, 405, `method ${req.method} not allowed`);
    }
    const sm = /^\/v1\/session\/(create|renew|destroy|info|list)(?:\/([^/]*))?$/.exec(path);
    if (sm) return this.#c.sessions.handle(req, res, sm[1]!, decodeURIComponent(sm[2] ?? ''), auth, agentNode);
    if (/^\/v1\/(health|catalog|agent)\//.test(path)) {
      try {
        return await this.#c.catalog.handle(req, res, path, url.searchParams, auth, agentNode);
      } catch (err) {
        if (err instanceof ApiError) return send(res, err.status, err.message);
        throw err;
      }
    }
    if (path === '/v1/status/leader') return send(res, 200, JSON.stringify(faults.knownLeader ? '127.0.0.1:8300' : ''), state.raftIndex, 'application/json');
    return send(res, 404, '');
  }
}
