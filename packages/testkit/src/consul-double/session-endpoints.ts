// The session endpoints: create, renew, destroy, info and list, with Consul's checks of the body,
// the TTL and the token's session rules.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authorizer } from './acl.js';
import { ApiError } from './api-error.js';
import { formatGoDuration, parseGoDuration, parseLockDelay } from './duration.js';
import { markFiltered, readBody, type Send } from './http.js';
import type { SessionLife } from './session-life.js';
import type { Session, State } from './state.js';

/** Consul's default session_ttl_min. */
export const DEFAULT_SESSION_TTL_MIN_MS = 10_000;
const MAX_TTL_MS = 86_400_000;

/** What a new session needs of the catalog: its node registered, its checks there and not critical (else an ApiError). */
export interface SessionNodes {
  sessionChecks(node: string, checks: readonly string[]): void;
}

export interface SessionEndpointsConfig {
  state: State;
  life: SessionLife;
  nodes: SessionNodes;
  send: Send;
  /** The agent's session_ttl_min (ms). */
  ttlMinMs: number;
}

const sessionJson = (s: Session) => ({
  ID: s.id,
  Name: s.name,
  Node: s.node,
  LockDelay: Math.round(s.lockDelayMs * 1e6),
  Behavior: s.behavior,
  TTL: s.ttl,
  NodeChecks: s.checks,
  ServiceChecks: null,
  CreateIndex: s.createIndex,
  ModifyIndex: s.createIndex,
});

/** The Node and node checks of a session/create body: the agent's node and serfHealth unless it names others. */
const sessionTarget = (body: Record<string, unknown>, agentNode: string): { node: string; checks: string[] } | string => {
  if (body.Node !== undefined && body.Node !== null && typeof body.Node !== 'string') return 'Request decode failed: Node must be a string';
  const named = [body.Checks, body.NodeChecks].filter((c) => c !== undefined && c !== null);
  if (!named.every((c) => Array.isArray(c) && c.every((x) => typeof x === 'string'))) return 'Request decode failed: Checks must be a list of strings';
  const checks = named.length ? [...new Set((named as string[][]).flat())] : ['serfHealth'];
  return { node: typeof body.Node === 'string' ? body.Node : agentNode, checks };
};

// Consul's session rules: session write on the session's node to create, renew or destroy it,
// session read on it to see it in info and list (the others are left out, not refused).
export class SessionEndpoints {
  readonly #c: SessionEndpointsConfig;

  constructor(config: SessionEndpointsConfig) {
    this.#c = config;
  }

  /** /v1/session/<op>[/<id>] on the agent of `agentNode`. */
  async handle(req: IncomingMessage, res: ServerResponse, op: string, id: string, auth: Authorizer, agentNode: string): Promise<void> {
    const { state, life, send } = this.#c;
    const method = op === 'info' || op === 'list' ? 'GET' : 'PUT';
    if (req.method !== method) return send(res, 405, `method ${req.method} not allowed`);
    if (op === 'create') return this.#create(req, res, auth, agentNode);
    const mayWrite = (node: string) => auth.allows('session', 'write', node);
    const maySee = (sess: Session) => auth.allows('session', 'read', sess.node);
    if (op === 'list') {
      const all = [...state.sessions.values()];
      const seen = all.filter(maySee);
      markFiltered(res, seen.length < all.length);
      return send(res, 200, seen.map(sessionJson));
    }
    if (!id) return send(res, 400, 'Missing session');
    const s = state.sessions.get(id);
    if (op === 'renew') {
      if (!s) return send(res, 404, `Session id '${id}' not found`);
      if (!mayWrite(s.node)) return send(res, 403, 'Permission denied');
      if (s.ttlMs > 0) life.arm(s);
      return send(res, 200, [sessionJson(s)]);
    }
    if (op === 'destroy') {
      // Consul answers true for an unknown session, and checks the token only against a known one.
      if (s && !mayWrite(s.node)) return send(res, 403, 'Permission denied');
      life.invalidate(id);
      return send(res, 200, true);
    }
    const visible = s !== undefined && maySee(s);
    markFiltered(res, s !== undefined && !visible);
    return send(res, 200, visible ? [sessionJson(s)] : []);
  }

  /** PUT /v1/session/create, checked in Consul's order: decoding, ACL, TTL and Behavior, then the node and its checks. */
  async #create(req: IncomingMessage, res: ServerResponse, auth: Authorizer, agentNode: string): Promise<void> {
    const { state, life, nodes, send, ttlMinMs } = this.#c;
    const text = (await readBody(req)).toString() || '{}';
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
      if (!body || typeof body !== 'object') throw new Error('not an object');
    } catch (err) {
      return send(res, 400, `Request decode failed: ${(err as Error).message}`);
    }
    const lockDelayMs = parseLockDelay(body.LockDelay);
    if (lockDelayMs === undefined) return send(res, 400, `Request decode failed: bad LockDelay ${JSON.stringify(body.LockDelay)}`);
    const target = sessionTarget(body, agentNode);
    if (typeof target === 'string') return send(res, 400, target);
    if (!target.node) return send(res, 500, 'Must provide Node');
    if (!auth.allows('session', 'write', target.node)) return send(res, 403, 'Permission denied');
    const ttlText = typeof body.TTL === 'string' ? body.TTL : '';
    const ttlMs = ttlText ? parseGoDuration(ttlText) : 0;
    if (ttlMs === undefined) return send(res, 400, `Invalid Session TTL '${ttlText}'`);
    // As Consul: a TTL of 0 is no TTL, any other lies within [session_ttl_min, 24h]; the message names it in nanoseconds.
    if (ttlMs !== 0 && (ttlMs < ttlMinMs || ttlMs > MAX_TTL_MS)) {
      return send(res, 400, `Invalid Session TTL '${Math.round(ttlMs * 1e6)}', must be between [${formatGoDuration(ttlMinMs)}=${formatGoDuration(MAX_TTL_MS)}]`);
    }
    const behavior = body.Behavior ?? 'release';
    if (behavior !== 'release' && behavior !== 'delete') return send(res, 400, `Invalid Behavior setting '${String(behavior)}'`);
    try {
      nodes.sessionChecks(target.node, target.checks);
    } catch (err) {
      if (err instanceof ApiError) return send(res, err.status, err.message);
      throw err;
    }
    const s: Session = { id: randomUUID(), name: String(body.Name ?? ''), ...target, ttl: ttlText, ttlMs, lockDelayMs, behavior, createIndex: state.bump() };
    state.sessions.set(s.id, s);
    if (s.ttlMs > 0) life.arm(s);
    return send(res, 200, { ID: s.id });
  }
}
