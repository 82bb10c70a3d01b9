// A Consul HTTP API test double: the KV, blocking-query, session and ACL behaviour of Consul's
// API documentation (see README.md here), with faults that tests control. Not shipped.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AclTable, requestToken, type Authorizer, type ConsulDoubleAclOptions } from './acl.js';
import { ApiError, Catalog, type Allows, type CheckStatus } from './catalog.js';
import { formatGoDuration, parseGoDuration, parseLockDelay } from './duration.js';

export type { AclAccess, AclPolicy, AclResource, AclRule, ConsulDoubleAclOptions } from './acl.js';
export { parseGoDuration } from './duration.js';

export interface ConsulDoubleOptions {
  /** 0 (default): a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** ACLs on; without it every request may do everything (like an agent without ACLs). */
  acl?: ConsulDoubleAclOptions;
  /** How long after its TTL a session without renew is invalidated (ms). Default: random, up to min(TTL, 1 s). */
  sessionGraceMs?: number;
  /** The agent's `session_ttl_min`: the shortest session TTL accepted (ms). Default 10 s, as Consul's. */
  sessionTtlMinMs?: number;
  /** Keep every request in `requests` (default true; the long-running bin turns it off). */
  recordRequests?: boolean;
  /** The datacenters `?dc=` may name, the local one first (default ["dc1"]). */
  datacenters?: string[];
  /** The agent's node name (default "consul-double"). */
  nodeName?: string;
}

/** Another agent of the double's cluster: same KV, sessions and catalog, its own node and port. */
export interface ConsulDoubleAgent {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly port: number;
  /** Its node: the Node of the sessions created through it and of the services registered with it. */
  readonly nodeName: string;
}

export interface RecordedRequest {
  method: string;
  /** The raw request URL (path and query), as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface ConsulDoubleFaults {
  /** Refuse connections (close the listener and every open socket) until turned off. */
  refuseConnections(on: boolean): Promise<void>;
  /** Answer every request this much later (0: at once). */
  delay(ms: number): void;
  /** Answer the next `count` requests with this status (default: every request until `fail(0)`). */
  fail(status: number, count?: number): void;
  /** A snapshot restore: every index drops to a low number, held blocking queries answer at once. */
  resetIndex(): void;
  /** X-Consul-KnownLeader on every answer. */
  knownLeader(on: boolean): void;
  /** Answer every held blocking query now, with unchanged data and index (Consul may do this). */
  wakeBlockedQueries(): void;
}

export interface ConsulDouble {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  readonly faults: ConsulDoubleFaults;
  /** How many blocking queries are held right now (a cancelled client request drops out at once). */
  readonly blockedQueries: number;
  /** From now on the token is unknown (403 "ACL not found"). */
  revokeToken(token: string): void;
  /**
   * Start another agent of the cluster on a free port, as a client agent on another host: its node
   * (with a passing serfHealth) joins the catalog, sessions created through it are on that node,
   * and its agent endpoints register on it. Faults other than refuseConnections apply to it too.
   */
  addAgent(nodeName: string): Promise<ConsulDoubleAgent>;
  /** Invalidate a session now, as if its TTL ran out: its locks are released and lock-delay starts. */
  expireSession(id: string): void;
  expireAllSessions(): void;
  close(): Promise<void>;
}

interface Entry {
  value: Buffer;
  flags: string;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  session?: string;
}

interface Session {
  id: string;
  name: string;
  /** The node it belongs to (the agent's, unless the request named one): its ACL segment. */
  node: string;
  /** Its node checks (serfHealth unless the request named others). */
  checks: string[];
  /** The TTL as the client wrote it ("" for none): Consul keeps and shows the text. */
  ttl: string;
  ttlMs: number;
  lockDelayMs: number;
  behavior: 'release' | 'delete';
  createIndex: number;
  timer?: NodeJS.Timeout;
}

interface Waiter {
  /** Finish when the watched index moved past the one asked for. */
  check(): void;
  /** Finish now, whatever the index. */
  wake(): void;
}

const MAX_VALUE = 512 * 1024;
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;
/** Consul's default session_ttl_min. */
const DEFAULT_SESSION_TTL_MIN_MS = 10_000;
const MAX_TTL_MS = 86_400_000;

const byKey = <T>([a]: [string, T], [b]: [string, T]) => (a < b ? -1 : a > b ? 1 : 0);

export async function startConsulDouble(opts: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
  const host = opts.host ?? '127.0.0.1';
  const acl = new AclTable(opts.acl);
  const record = opts.recordRequests !== false;
  const sessionTtlMinMs = opts.sessionTtlMinMs ?? DEFAULT_SESSION_TTL_MIN_MS;
  const kv = new Map<string, Entry>();
  const tombstones = new Map<string, number>();
  const sessions = new Map<string, Session>();
  const lockDelays = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const waiters = new Set<Waiter>();
  const sockets = new Set<Socket>();
  /** The Raft index: every write takes the next one. */
  let raftIndex = 1;
  /** The KV table's index: the last write that changed a key or a tombstone. */
  let kvIndex = 1;
  let knownLeader = true;
  let delayMs = 0;
  let failStatus = 0;
  let failCount = 0;
  let refusing = false;
  let closed = false;

  /** The delay fault's pending waits: close() ends them, so a delayed answer keeps no timer alive. */
  const pauses = new Map<NodeJS.Timeout, () => void>();
  const pause = (ms: number) =>
    new Promise<void>((done) => {
      const timer = setTimeout(() => {
        pauses.delete(timer);
        done();
      }, ms);
      pauses.set(timer, done);
    });

  const bump = () => ++raftIndex;
  const notify = () => {
    for (const w of [...waiters]) w.check();
  };
  const nodeName = opts.nodeName ?? 'consul-double';
  const catalog = new Catalog({ nodeName, datacenters: opts.datacenters?.length ? opts.datacenters : ['dc1'], bump, notify });
  const wakeAll = () => {
    for (const w of [...waiters]) w.wake();
  };

  /** Consul's index of a read: the key's ModifyIndex, or for a list the highest under the prefix (tombstones included), else the table's. */
  const readIndex = (key: string, list: boolean): number => {
    if (!list) return kv.get(key)?.modifyIndex ?? kvIndex;
    if (key === '') return kvIndex;
    let idx = 0;
    for (const [k, e] of kv) if (k.startsWith(key)) idx = Math.max(idx, e.modifyIndex);
    for (const [k, i] of tombstones) if (k.startsWith(key)) idx = Math.max(idx, i);
    return idx || kvIndex;
  };

  // --- responses --------------------------------------------------------------------------
  const send = (res: ServerResponse, status: number, body: unknown, idx = raftIndex, contentType?: string) => {
    if (res.headersSent || res.destroyed) return;
    const text = Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'),
      'X-Consul-Index': String(Math.max(1, idx)),
      'X-Consul-KnownLeader': String(knownLeader),
      'X-Consul-LastContact': '0',
    });
    res.end(text);
  };
  const entryJson = (key: string, e: Entry) => ({
    LockIndex: e.lockIndex,
    Key: key,
    Flags: Number(e.flags),
    Value: e.value.length ? e.value.toString('base64') : null,
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex,
    ...(e.session ? { Session: e.session } : {}),
  });
  const readBody = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((done, fail) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => done(Buffer.concat(chunks)));
      req.on('error', fail);
    });
  /** Consul's answer to non-composable query flags, e.g. cas with acquire. */
  const conflicting = (q: URLSearchParams, names: string[]): string | undefined =>
    names.filter((n) => q.has(n)).length > 1 ? `Conflicting flags: ${q.toString()}\n` : undefined;
  const uintParam = (q: URLSearchParams, name: string): number | undefined | 'bad' => {
    if (!q.has(name)) return undefined;
    const v = q.get(name) ?? '';
    return /^\d+$/.test(v) ? Number(v) : 'bad';
  };

  // --- sessions ---------------------------------------------------------------------------
  /** Invalidate a session: its locks are released (or keys deleted) and lock-delay starts on them. */
  const invalidate = (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    if (s.timer) clearTimeout(s.timer);
    sessions.delete(id);
    const held = [...kv].filter(([, e]) => e.session === id);
    if (!held.length) return;
    const idx = bump();
    const until = Date.now() + s.lockDelayMs;
    for (const [k, e] of held) {
      if (s.behavior === 'delete') {
        kv.delete(k);
        tombstones.set(k, idx);
      } else {
        delete e.session;
        e.modifyIndex = idx;
      }
      if (s.lockDelayMs > 0) lockDelays.set(k, until);
    }
    kvIndex = idx;
    notify();
  };
  const arm = (s: Session) => {
    if (s.timer) clearTimeout(s.timer);
    // Consul invalidates somewhere between TTL and 2×TTL; tests must not rely on exactly TTL.
    const grace = opts.sessionGraceMs ?? Math.floor(Math.random() * Math.min(s.ttlMs, 1000));
    s.timer = setTimeout(() => invalidate(s.id), s.ttlMs + grace);
    s.timer.unref();
  };
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

  // --- KV ---------------------------------------------------------------------------------
  /** Hold a blocking query until the index it reads passes `want`, the wait runs out, or it is woken. */
  const block = (res: ServerResponse, current: () => number, want: number, waitMs: number) =>
    new Promise<void>((done) => {
      const w: Waiter = {
        check: () => {
          if (current() > want) finish();
        },
        wake: () => finish(),
      };
      const timer = setTimeout(finish, waitMs);
      function finish() {
        waiters.delete(w);
        clearTimeout(timer);
        res.off('close', finish);
        done();
      }
      waiters.add(w);
      res.on('close', finish);
    });

  /** ?index and ?wait of a read, or the 400 Consul answers for them. */
  const blockingParams = (q: URLSearchParams): { want: number | undefined; waitMs: number } | string => {
    const want = uintParam(q, 'index');
    if (want === 'bad') return 'Invalid index';
    let waitMs = DEFAULT_WAIT_MS;
    if (q.has('wait')) {
      const w = parseGoDuration(q.get('wait') ?? '');
      if (w === undefined) return 'Invalid wait time';
      waitMs = w;
    }
    return { want, waitMs };
  };
  /** Hold a read while its index is not above ?index; false when the client went away meanwhile. */
  const waitForChange = async (res: ServerResponse, p: { want: number | undefined; waitMs: number }, current: () => number): Promise<boolean> => {
    if (p.want !== undefined && p.want > 0 && current() <= p.want) {
      const capped = Math.min(p.waitMs > 0 ? p.waitMs : DEFAULT_WAIT_MS, MAX_WAIT_MS);
      await block(res, current, p.want, capped + Math.random() * (capped / 16));
      if (res.destroyed || res.writableEnded) return false;
    }
    return true;
  };

  const kvGet = async (res: ServerResponse, q: URLSearchParams, key: string, auth: Authorizer) => {
    const keysOnly = q.has('keys');
    const list = keysOnly || q.has('recurse');
    if (!list && key === '') return send(res, 400, 'Missing key name');
    const p = blockingParams(q);
    if (typeof p === 'string') return send(res, 400, p);
    const canRead = (k: string) => auth.allows('key', 'read', k);
    if (list ? auth.refusesList(key) : !canRead(key)) return send(res, 403, 'Permission denied');
    if (!(await waitForChange(res, p, () => readIndex(key, list)))) return;
    const idx = readIndex(key, list);
    if (keysOnly) {
      const sep = q.has('separator') ? (q.get('separator') ?? '') : (q.get('seperator') ?? '');
      const out: string[] = [];
      for (const [k] of [...kv].sort(byKey)) {
        if (!k.startsWith(key) || !canRead(k)) continue;
        const cut = sep ? k.indexOf(sep, key.length) : -1;
        const name = cut >= 0 ? k.slice(0, cut + sep.length) : k;
        if (out[out.length - 1] !== name) out.push(name);
      }
      // Consul answers an empty root listing with [] and any other empty listing with a 404.
      return out.length || key === '' ? send(res, 200, out, idx) : send(res, 404, '', idx);
    }
    if (list) {
      const found = [...kv].filter(([k]) => k.startsWith(key) && canRead(k)).sort(byKey);
      return found.length ? send(res, 200, found.map(([k, e]) => entryJson(k, e)), idx) : send(res, 404, '', idx);
    }
    const e = kv.get(key);
    if (!e) return send(res, 404, '', idx);
    if (q.has('raw')) return send(res, 200, e.value, idx, 'text/plain');
    return send(res, 200, [entryJson(key, e)], idx);
  };

  const kvPut = async (req: IncomingMessage, res: ServerResponse, q: URLSearchParams, key: string, auth: Authorizer) => {
    if (key === '') return send(res, 400, 'Missing key name');
    const conflict = conflicting(q, ['cas', 'acquire', 'release']);
    if (conflict) return send(res, 400, conflict);
    const flags = uintParam(q, 'flags');
    const cas = uintParam(q, 'cas');
    if (flags === 'bad') return send(res, 400, `Invalid flags "${q.get('flags')}"`);
    if (cas === 'bad') return send(res, 400, `Invalid cas index "${q.get('cas')}"`);
    const declared = Number(req.headers['content-length'] ?? '0');
    const body = await readBody(req);
    const size = Math.max(declared, body.length);
    if (size > MAX_VALUE) return send(res, 413, `Request body(${size} bytes) too large, max size: ${MAX_VALUE} bytes.`);
    // Consul asks key write for every write, ?acquire and ?release included (and nothing of the session).
    if (!auth.allows('key', 'write', key)) return send(res, 403, 'Permission denied');
    const cur = kv.get(key);
    const write = (session: string | undefined, lockIndex: number) => {
      const idx = bump();
      kv.set(key, {
        value: body,
        // Consul sets Flags on every write: 0 unless ?flags is given.
        flags: String(flags ?? 0),
        createIndex: cur?.createIndex ?? idx,
        modifyIndex: idx,
        lockIndex,
        ...(session ? { session } : {}),
      });
      tombstones.delete(key);
      kvIndex = idx;
      notify();
    };
    const lockIndex = cur?.lockIndex ?? 0;
    if (cas !== undefined) {
      if (cas === 0 ? cur !== undefined : cur?.modifyIndex !== cas) return send(res, 200, false);
      write(cur?.session, lockIndex);
      return send(res, 200, true);
    }
    if (q.has('acquire')) {
      const id = q.get('acquire') ?? '';
      if (!sessions.has(id)) return send(res, 500, `Invalid session "${id}"`);
      if ((lockDelays.get(key) ?? 0) > Date.now()) return send(res, 200, false);
      if (cur?.session && cur.session !== id) return send(res, 200, false);
      write(id, cur?.session === id ? lockIndex : lockIndex + 1);
      return send(res, 200, true);
    }
    if (q.has('release')) {
      const id = q.get('release') ?? '';
      if (!cur || cur.session !== id) return send(res, 200, false);
      write(undefined, lockIndex);
      return send(res, 200, true);
    }
    write(cur?.session, lockIndex);
    return send(res, 200, true);
  };

  const kvDelete = (res: ServerResponse, q: URLSearchParams, key: string, auth: Authorizer) => {
    const conflict = conflicting(q, ['recurse', 'cas']);
    if (conflict) return send(res, 400, conflict);
    const recurse = q.has('recurse');
    if (!recurse && key === '') return send(res, 400, 'Missing key name');
    const cas = uintParam(q, 'cas');
    if (cas === 'bad') return send(res, 400, `Invalid cas index "${q.get('cas')}"`);
    if (recurse ? !auth.canWritePrefix(key) : !auth.allows('key', 'write', key)) return send(res, 403, 'Permission denied');
    const idx = bump();
    const gone = recurse ? [...kv.keys()].filter((k) => k.startsWith(key)) : kv.has(key) ? [key] : [];
    const cur = kv.get(key);
    // Consul: a delete-cas of an absent key succeeds; of a present key only at its ModifyIndex.
    if (cas !== undefined && cur && cur.modifyIndex !== cas) return send(res, 200, false);
    for (const k of gone) {
      kv.delete(k);
      tombstones.set(k, idx);
    }
    if (gone.length) {
      kvIndex = idx;
      notify();
    }
    return send(res, 200, true);
  };

  // --- session endpoints ------------------------------------------------------------------
  /** Tell the client that an answer left out what the token may not read (Consul 1.11+). */
  const markFiltered = (res: ServerResponse, removed: boolean) => {
    if (removed) res.setHeader('X-Consul-Results-Filtered-By-ACLs', 'true');
  };
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
  /** PUT /v1/session/create, checked in Consul's order: decoding, ACL, TTL and Behavior, then the node and its checks. */
  const createSession = async (req: IncomingMessage, res: ServerResponse, auth: Authorizer, agentNode: string) => {
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
    if (ttlMs !== 0 && (ttlMs < sessionTtlMinMs || ttlMs > MAX_TTL_MS)) {
      return send(res, 400, `Invalid Session TTL '${Math.round(ttlMs * 1e6)}', must be between [${formatGoDuration(sessionTtlMinMs)}=${formatGoDuration(MAX_TTL_MS)}]`);
    }
    const behavior = body.Behavior ?? 'release';
    if (behavior !== 'release' && behavior !== 'delete') return send(res, 400, `Invalid Behavior setting '${String(behavior)}'`);
    try {
      catalog.sessionChecks(target.node, target.checks);
    } catch (err) {
      if (err instanceof ApiError) return send(res, err.status, err.message);
      throw err;
    }
    const s: Session = { id: randomUUID(), name: String(body.Name ?? ''), ...target, ttl: ttlText, ttlMs, lockDelayMs, behavior, createIndex: bump() };
    sessions.set(s.id, s);
    if (s.ttlMs > 0) arm(s);
    return send(res, 200, { ID: s.id });
  };

  const sessionHandler = async (req: IncomingMessage, res: ServerResponse, op: string, id: string, auth: Authorizer, agentNode: string) => {
    const method = op === 'info' || op === 'list' ? 'GET' : 'PUT';
    if (req.method !== method) return send(res, 405, `method ${req.method} not allowed`);
    if (op === 'create') return createSession(req, res, auth, agentNode);
    const mayWrite = (node: string) => auth.allows('session', 'write', node);
    const maySee = (sess: Session) => auth.allows('session', 'read', sess.node);
    if (op === 'list') {
      const all = [...sessions.values()];
      const seen = all.filter(maySee);
      markFiltered(res, seen.length < all.length);
      return send(res, 200, seen.map(sessionJson));
    }
    if (!id) return send(res, 400, 'Missing session');
    const s = sessions.get(id);
    if (op === 'renew') {
      if (!s) return send(res, 404, `Session id '${id}' not found`);
      if (!mayWrite(s.node)) return send(res, 403, 'Permission denied');
      if (s.ttlMs > 0) arm(s);
      return send(res, 200, [sessionJson(s)]);
    }
    if (op === 'destroy') {
      // Consul answers true for an unknown session, and checks the token only against a known one.
      if (s && !mayWrite(s.node)) return send(res, 403, 'Permission denied');
      invalidate(id);
      return send(res, 200, true);
    }
    const visible = s !== undefined && maySee(s);
    markFiltered(res, s !== undefined && !visible);
    return send(res, 200, visible ? [sessionJson(s)] : []);
  };

  // --- catalog, health and agent endpoints ------------------------------------------------
  const jsonBody = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    const text = (await readBody(req)).toString() || '{}';
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new ApiError(400, `Request decode failed: ${(err as Error).message}`);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'Request decode failed: the body is not a JSON object');
    return body as Record<string, unknown>;
  };
  /** ?passing, ?passing=true, ?passing=false as Consul parses them. */
  const passingParam = (q: URLSearchParams): boolean => {
    if (!q.has('passing')) return false;
    const v = (q.get('passing') ?? '').toLowerCase();
    if (v === '' || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new ApiError(400, 'Invalid value for ?passing');
  };

  // Consul's catalog rules: reads leave out what the token may not read (an instance needs node and
  // service read, a name in the services list service read); writes are vetted by the catalog.
  const catalogHandler = async (req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams, auth: Authorizer, agentNode: string) => {
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
      if (!(await waitForChange(res, p, index))) return;
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
      const index = () => catalog.serviceIndex(dc, name);
      const seen = await read(index, () => catalog.health(dc, name, opts), (e) => allows('node', 'read', e.Node.Node) && allows('service', 'read', e.Service.Service));
      if (seen) send(res, 200, seen, index());
      return;
    }
    if (path === '/v1/catalog/services') {
      const index = () => catalog.servicesIndex(dc);
      const seen = await read(index, () => Object.entries(catalog.services(dc)), ([name]) => allows('service', 'read', name));
      if (seen) send(res, 200, Object.fromEntries(seen), index());
      return;
    }
    if (path === '/v1/catalog/register' || path === '/v1/catalog/deregister') {
      needs('PUT');
      const body = await jsonBody(req);
      if (path.endsWith('/register')) catalog.register(dc, body, allows);
      else catalog.deregister(dc, body, allows);
      return send(res, 200, true);
    }
    if (path === '/v1/agent/service/register') {
      needs('PUT');
      catalog.agentRegister(agentNode, await jsonBody(req), allows);
      return send(res, 200, '');
    }
    if ((m = /^\/v1\/agent\/service\/deregister\/([^/]+)$/.exec(path))) {
      needs('PUT');
      catalog.agentDeregister(agentNode, decodeURIComponent(m[1]!), allows);
      return send(res, 200, '');
    }
    if ((m = /^\/v1\/agent\/check\/(pass|warn|fail)\/([^/]+)$/.exec(path))) {
      needs('PUT');
      const next: CheckStatus = m[1] === 'pass' ? 'passing' : m[1] === 'warn' ? 'warning' : 'critical';
      catalog.agentCheckUpdate(agentNode, decodeURIComponent(m[2]!), next, q.get('note') ?? '', allows);
      return send(res, 200, '');
    }
    return send(res, 404, '');
  };

  // --- server -----------------------------------------------------------------------------
  /** One request to the agent of `agentNode`. */
  const handle = async (req: IncomingMessage, res: ServerResponse, agentNode: string) => {
    if (record) requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    if (delayMs > 0) await pause(delayMs);
    if (closed || res.destroyed) return;
    if (failCount !== 0 && failStatus) {
      if (failCount > 0) failCount--;
      return send(res, failStatus, failStatus === 429 ? 'rate limit exceeded' : `rpc error: injected fault ${failStatus}`);
    }
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
      if (req.method === 'GET') return kvGet(res, q, key, auth);
      if (req.method === 'PUT') return kvPut(req, res, q, key, auth);
      if (req.method === 'DELETE') return kvDelete(res, q, key, auth);
      return send(res, 405, `method ${req.method} not allowed`);
    }
    const sm = /^\/v1\/session\/(create|renew|destroy|info|list)(?:\/([^/]*))?$/.exec(path);
    if (sm) return sessionHandler(req, res, sm[1]!, decodeURIComponent(sm[2] ?? ''), auth, agentNode);
    if (/^\/v1\/(health|catalog|agent)\//.test(path)) {
      try {
        return await catalogHandler(req, res, path, url.searchParams, auth, agentNode);
      } catch (err) {
        if (err instanceof ApiError) return send(res, err.status, err.message);
        throw err;
      }
    }
    if (path === '/v1/status/leader') return send(res, 200, JSON.stringify(knownLeader ? '127.0.0.1:8300' : ''), raftIndex, 'application/json');
    return send(res, 404, '');
  };

  const agentServer = (agentNode: string) =>
    createServer((req, res) => {
      handle(req, res, agentNode).catch((err: unknown) => send(res, 500, String(err)));
    });
  const listen = (srv: Server, port: number) =>
    new Promise<number>((done, fail) => {
      srv.once('error', fail);
      srv.listen(port, host, () => {
        srv.off('error', fail);
        done((srv.address() as AddressInfo).port);
      });
    });
  const closeListener = (srv: Server, open: Set<Socket>) =>
    new Promise<void>((done) => {
      for (const s of open) s.destroy();
      if (!srv.listening) return done();
      srv.close(() => done());
    });
  const server = agentServer(nodeName);
  server.on('connection', (s) => {
    if (refusing) return s.destroy();
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server, opts.port ?? 0);
  const closeServer = () => closeListener(server, sockets);
  /** The listeners of addAgent's agents, closed with the double. */
  const agents: { server: Server; sockets: Set<Socket> }[] = [];

  return {
    url: `http://${host}:${port}`,
    address: `${host}:${port}`,
    port,
    requests,
    get blockedQueries() {
      return waiters.size;
    },
    faults: {
      async refuseConnections(on) {
        refusing = on;
        if (on) await closeServer();
        else if (!server.listening && !closed) await listen(server, port);
      },
      delay(ms) {
        delayMs = ms;
      },
      fail(status, count = -1) {
        failStatus = status;
        failCount = status ? count : 0;
      },
      resetIndex() {
        let i = 0;
        for (const [, e] of [...kv].sort(byKey)) {
          e.modifyIndex = ++i;
          e.createIndex = Math.min(e.createIndex, i);
        }
        tombstones.clear();
        raftIndex = kvIndex = Math.max(1, i);
        catalog.resetIndexes(raftIndex);
        // Like a restored state store: every held query is abandoned and answers now.
        wakeAll();
      },
      knownLeader(on) {
        knownLeader = on;
      },
      wakeBlockedQueries() {
        wakeAll();
      },
    },
    revokeToken(token) {
      acl.revoke(token);
    },
    async addAgent(agentNode) {
      if (closed) throw new Error('the Consul double is closed');
      catalog.joinAgent(agentNode);
      const agent = { server: agentServer(agentNode), sockets: new Set<Socket>() };
      agent.server.on('connection', (s) => {
        agent.sockets.add(s);
        s.on('close', () => agent.sockets.delete(s));
      });
      agents.push(agent);
      const agentPort = await listen(agent.server, 0);
      return { url: `http://${host}:${agentPort}`, address: `${host}:${agentPort}`, port: agentPort, nodeName: agentNode };
    },
    expireSession(id) {
      invalidate(id);
    },
    expireAllSessions() {
      for (const id of [...sessions.keys()]) invalidate(id);
    },
    async close() {
      closed = true;
      catalog.close();
      for (const s of sessions.values()) if (s.timer) clearTimeout(s.timer);
      for (const [timer, done] of pauses) {
        clearTimeout(timer);
        done();
      }
      pauses.clear();
      wakeAll();
      await Promise.all([closeServer(), ...agents.map((a) => closeListener(a.server, a.sockets))]);
    },
  };
}
