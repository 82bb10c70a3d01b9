// A Consul HTTP API test double: the KV, session and ACL behaviour of /work/shared/docs/consul-api.md
// (kept in the repository's README), with fault injection that tests control. Not shipped.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type AclPolicy = 'read' | 'write' | 'deny';

export interface ConsulDoubleOptions {
  port?: number;
  host?: string;
  acl?: {
    /** Rules for requests without a token. Default: deny everything. */
    anonymous?: { prefix: string; policy: AclPolicy }[];
    tokens: Record<string, { prefix: string; policy: AclPolicy }[]>;
  };
  /** Extra delay after a session's TTL before it is invalidated (ms); Consul allows up to TTL. */
  sessionGraceMs?: number;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
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
  ttlMs: number;
  lockDelayMs: number;
  behavior: 'release' | 'delete';
  createIndex: number;
  timer?: NodeJS.Timeout;
}

export interface ConsulDouble {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  readonly faults: {
    /** Refuse connections (close the listener and every open socket) until turned off. */
    refuseConnections(on: boolean): Promise<void>;
    /** Answer every request this much later. */
    delay(ms: number): void;
    /** Answer the next `count` requests (default: until cleared with count 0) with this status. */
    fail(status: number, count?: number): void;
    /** A snapshot restore: every index drops, blocked queries return at once. */
    resetIndex(): void;
    knownLeader(on: boolean): void;
  };
  revokeToken(token: string): void;
  expireSession(id: string): void;
  expireAllSessions(): void;
  close(): Promise<void>;
}

const MAX_VALUE = 512 * 1024;
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;

/** Go-style durations as Consul takes them: "10s", "1m30s", "500ms", "15" (seconds). */
export function parseGoDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === text.length && pos > 0 ? total : undefined;
}

export async function startConsulDouble(opts: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
  const host = opts.host ?? '127.0.0.1';
  const kv = new Map<string, Entry>();
  const tombstones = new Map<string, number>();
  const sessions = new Map<string, Session>();
  const lockDelays = new Map<string, number>();
  const revoked = new Set<string>();
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();
  let index = 1;
  let knownLeader = true;
  let delayMs = 0;
  let failStatus = 0;
  let failCount = 0;
  let refusing = false;

  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const bump = () => ++index;

  // --- ACL --------------------------------------------------------------------------------
  const tokenOf = (req: IncomingMessage, url: URL): string | undefined => {
    const h = req.headers['x-consul-token'];
    if (typeof h === 'string' && h) return h;
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
    return url.searchParams.get('token') ?? undefined;
  };
  type Rules = { prefix: string; policy: AclPolicy }[];
  const rulesFor = (token: string | undefined): Rules | 'unknown' => {
    if (!opts.acl) return [{ prefix: '', policy: 'write' }];
    if (token === undefined) return opts.acl.anonymous ?? [];
    if (revoked.has(token)) return 'unknown';
    return opts.acl.tokens[token] ?? 'unknown';
  };
  const policyFor = (rules: Rules, key: string): AclPolicy => {
    let best: { prefix: string; policy: AclPolicy } | undefined;
    for (const r of rules) if (key.startsWith(r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
    return best?.policy ?? 'deny';
  };
  const canRead = (rules: Rules, key: string) => policyFor(rules, key) !== 'deny';
  const canWrite = (rules: Rules, key: string) => policyFor(rules, key) === 'write';
  const anyReadUnder = (rules: Rules, prefix: string) =>
    canRead(rules, prefix) || rules.some((r) => r.prefix.startsWith(prefix) && r.policy !== 'deny');

  // --- responses --------------------------------------------------------------------------
  const send = (res: ServerResponse, status: number, body: unknown, idx: number, raw = false) => {
    const text = raw ? (body as Buffer | string) : status === 404 ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': raw ? 'application/octet-stream' : typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
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

  /** Consul's index for a read: highest ModifyIndex under it, tombstones included, else the table's. */
  const readIndex = (key: string, recurse: boolean): number => {
    if (!recurse) return kv.get(key)?.modifyIndex ?? tombstones.get(key) ?? index;
    let idx = 0;
    for (const [k, e] of kv) if (k.startsWith(key)) idx = Math.max(idx, e.modifyIndex);
    for (const [k, i] of tombstones) if (k.startsWith(key)) idx = Math.max(idx, i);
    return idx || index;
  };

  // --- sessions ---------------------------------------------------------------------------
  const invalidate = (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    if (s.timer) clearTimeout(s.timer);
    sessions.delete(id);
    const now = Date.now();
    for (const [k, e] of [...kv]) {
      if (e.session !== id) continue;
      const idx = bump();
      if (s.behavior === 'delete') {
        kv.delete(k);
        tombstones.set(k, idx);
      } else {
        delete e.session;
        e.modifyIndex = idx;
      }
      if (s.lockDelayMs > 0) lockDelays.set(k, now + s.lockDelayMs);
    }
    notify();
  };
  const arm = (s: Session) => {
    if (s.timer) clearTimeout(s.timer);
    const grace = opts.sessionGraceMs ?? Math.floor(Math.random() * 500);
    s.timer = setTimeout(() => invalidate(s.id), s.ttlMs + grace);
    s.timer.unref();
  };
  const sessionJson = (s: Session) => ({
    ID: s.id,
    Name: s.name,
    Node: 'consul-double',
    LockDelay: s.lockDelayMs * 1e6,
    Behavior: s.behavior,
    TTL: `${s.ttlMs / 1000}s`,
    NodeChecks: ['serfHealth'],
    ServiceChecks: null,
    CreateIndex: s.createIndex,
    ModifyIndex: s.createIndex,
  });

  // --- KV handlers ------------------------------------------------------------------------
  const readBody = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((done, fail) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => done(Buffer.concat(chunks)));
      req.on('error', fail);
    });

  const kvGet = async (req: IncomingMessage, res: ServerResponse, url: URL, key: string, rules: Rules) => {
    const q = url.searchParams;
    const recurse = q.has('recurse');
    const keysOnly = q.has('keys');
    const prefixRead = recurse || keysOnly;
    if (prefixRead ? !anyReadUnder(rules, key) : !canRead(rules, key)) return send(res, 403, 'Permission denied', index);
    const want = Number(q.get('index') ?? '0');
    if (want > 0) {
      const waitText = q.get('wait');
      let waitMs = waitText ? parseGoDuration(waitText) ?? DEFAULT_WAIT_MS : DEFAULT_WAIT_MS;
      waitMs = Math.min(waitMs, MAX_WAIT_MS);
      waitMs += Math.random() * (waitMs / 16);
      if (readIndex(key, prefixRead) <= want) {
        await new Promise<void>((done) => {
          const finish = () => {
            waiters.delete(check);
            clearTimeout(timer);
            req.off('close', finish);
            done();
          };
          const check = () => {
            if (readIndex(key, prefixRead) > want || readIndex(key, prefixRead) < want) finish();
          };
          const timer = setTimeout(finish, waitMs);
          waiters.add(check);
          req.on('close', finish);
        });
      }
      if (res.destroyed || res.writableEnded) return;
    }
    const idx = readIndex(key, prefixRead);
    if (keysOnly) {
      const sep = q.get('separator') ?? '';
      const out = new Set<string>();
      for (const k of [...kv.keys()].sort()) {
        if (!k.startsWith(key) || !canRead(rules, k)) continue;
        const cut = sep ? k.indexOf(sep, key.length) : -1;
        out.add(cut >= 0 ? k.slice(0, cut + sep.length) : k);
      }
      return out.size ? send(res, 200, [...out], idx) : send(res, 404, '', idx);
    }
    if (recurse) {
      const list = [...kv.entries()].filter(([k]) => k.startsWith(key) && canRead(rules, k)).sort(([a], [b]) => (a < b ? -1 : 1));
      return list.length ? send(res, 200, list.map(([k, e]) => entryJson(k, e)), idx) : send(res, 404, '', idx);
    }
    const e = kv.get(key);
    if (!e) return send(res, 404, '', idx);
    if (q.has('raw')) return send(res, 200, e.value, idx, true);
    return send(res, 200, [entryJson(key, e)], idx);
  };

  const kvPut = async (req: IncomingMessage, res: ServerResponse, url: URL, key: string, rules: Rules) => {
    if (!canWrite(rules, key)) return send(res, 403, 'Permission denied', index);
    const q = url.searchParams;
    const body = await readBody(req);
    if (body.length > MAX_VALUE) return send(res, 413, `Request body(${body.length} bytes) too large, max size: ${MAX_VALUE} bytes.`, index);
    const modes = ['cas', 'acquire', 'release'].filter((m) => q.has(m));
    if (modes.length > 1) return send(res, 400, `Conflicting flags: ${modes.map((m) => `${m}=${q.get(m)}`).join('&')}`, index);
    const flags = q.get('flags') ?? undefined;
    if (flags !== undefined && !/^\d+$/.test(flags)) return send(res, 400, `Invalid flags: "${flags}"`, index);
    const cur = kv.get(key);
    const write = (session?: string) => {
      const idx = bump();
      const e: Entry = {
        value: body,
        flags: flags ?? cur?.flags ?? '0',
        createIndex: cur?.createIndex ?? idx,
        modifyIndex: idx,
        lockIndex: cur?.lockIndex ?? 0,
        ...(session ? { session } : {}),
      };
      kv.set(key, e);
      tombstones.delete(key);
      notify();
      return e;
    };
    if (q.has('cas')) {
      const cas = Number(q.get('cas'));
      if (!Number.isInteger(cas) || cas < 0) return send(res, 400, 'Invalid cas index', index);
      if (cas === 0 ? cur !== undefined : cur?.modifyIndex !== cas) return send(res, 200, false, index);
      write(cur?.session);
      return send(res, 200, true, index);
    }
    if (q.has('acquire')) {
      const id = q.get('acquire') ?? '';
      if (!sessions.has(id)) return send(res, 500, `invalid session "${id}"`, index);
      if (cur?.session && cur.session !== id) return send(res, 200, false, index);
      if ((lockDelays.get(key) ?? 0) > Date.now() && cur?.session !== id) return send(res, 200, false, index);
      const e = write(id);
      if (cur?.session !== id) e.lockIndex += 1;
      return send(res, 200, true, index);
    }
    if (q.has('release')) {
      const id = q.get('release') ?? '';
      if (!cur || cur.session !== id) return send(res, 200, false, index);
      write(undefined);
      return send(res, 200, true, index);
    }
    write(cur?.session);
    return send(res, 200, true, index);
  };

  const kvDelete = (_req: IncomingMessage, res: ServerResponse, url: URL, key: string, rules: Rules) => {
    if (!canWrite(rules, key)) return send(res, 403, 'Permission denied', index);
    const q = url.searchParams;
    if (q.has('recurse')) {
      const idx = bump();
      for (const k of [...kv.keys()]) if (k.startsWith(key)) {
        kv.delete(k);
        tombstones.set(k, idx);
      }
      notify();
      return send(res, 200, true, index);
    }
    const cur = kv.get(key);
    if (q.has('cas')) {
      const cas = Number(q.get('cas'));
      if (cas === 0 ? cur !== undefined : cur?.modifyIndex !== cas) return send(res, 200, false, index);
    }
    if (cur) {
      kv.delete(key);
      tombstones.set(key, bump());
      notify();
    }
    return send(res, 200, true, index);
  };

  // --- session handlers -------------------------------------------------------------------
  const sessionHandler = async (req: IncomingMessage, res: ServerResponse, op: string, id: string) => {
    if (op === 'create' && req.method === 'PUT') {
      const text = (await readBody(req)).toString() || '{}';
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return send(res, 400, 'Request decode failed', index);
      }
      const ttlText = typeof body.TTL === 'string' ? body.TTL : '';
      const ttlMs = ttlText ? parseGoDuration(ttlText) : 0;
      if (ttlText && (ttlMs === undefined || ttlMs < 10_000 || ttlMs > 86_400_000)) {
        return send(res, 400, `Invalid Session TTL '${ttlText}', must be between [10s=24h0m0s]`, index);
      }
      const ld = body.LockDelay;
      const lockDelayMs = typeof ld === 'string' ? parseGoDuration(ld) ?? 15_000 : typeof ld === 'number' ? ld / 1e6 : 15_000;
      const behavior = body.Behavior === 'delete' ? 'delete' : 'release';
      const s: Session = { id: randomUUID(), name: String(body.Name ?? ''), ttlMs: ttlMs ?? 0, lockDelayMs, behavior, createIndex: bump() };
      sessions.set(s.id, s);
      if (s.ttlMs > 0) arm(s);
      return send(res, 200, { ID: s.id }, index);
    }
    if (op === 'renew' && req.method === 'PUT') {
      const s = sessions.get(id);
      if (!s) return send(res, 404, `Session id '${id}' not found`, index);
      if (s.ttlMs > 0) arm(s);
      return send(res, 200, [sessionJson(s)], index);
    }
    if (op === 'destroy' && req.method === 'PUT') {
      invalidate(id);
      return send(res, 200, true, index);
    }
    if (op === 'info' && req.method === 'GET') {
      const s = sessions.get(id);
      return send(res, 200, s ? [sessionJson(s)] : [], index);
    }
    return send(res, 405, 'method not allowed', index);
  };

  // --- server -----------------------------------------------------------------------------
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (res.destroyed) return;
    if (failCount !== 0 && failStatus) {
      if (failCount > 0) failCount--;
      return send(res, failStatus, failStatus === 429 ? 'rate limit exceeded' : 'rpc error: injected fault', index);
    }
    const url = new URL(req.url ?? '/', 'http://double');
    const rules = rulesFor(tokenOf(req, url));
    if (rules === 'unknown') return send(res, 403, 'ACL not found', index);
    const path = url.pathname;
    if (path.startsWith('/v1/kv/')) {
      let key: string;
      try {
        key = decodeURIComponent(path.slice('/v1/kv/'.length));
      } catch {
        return send(res, 400, 'bad key encoding', index);
      }
      if (req.method === 'GET') return kvGet(req, res, url, key, rules);
      if (req.method === 'PUT') return kvPut(req, res, url, key, rules);
      if (req.method === 'DELETE') return kvDelete(req, res, url, key, rules);
      return send(res, 405, 'method not allowed', index);
    }
    const sm = /^\/v1\/session\/(create|renew|destroy|info)(?:\/(.+))?$/.exec(path);
    if (sm) return sessionHandler(req, res, sm[1]!, decodeURIComponent(sm[2] ?? ''));
    if (path === '/v1/status/leader') return send(res, 200, knownLeader ? '"127.0.0.1:8300"' : '""', index);
    return send(res, 404, '', index);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, String(err), index);
    });
  });
  server.on('connection', (s) => {
    if (refusing) return s.destroy();
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (port: number) =>
    new Promise<number>((done, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => {
        server.off('error', fail);
        done((server.address() as AddressInfo).port);
      });
    });
  const port = await listen(opts.port ?? 0);
  const closeServer = () =>
    new Promise<void>((done) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return done();
      server.close(() => done());
    });

  return {
    url: `http://${host}:${port}`,
    address: `${host}:${port}`,
    port,
    requests,
    faults: {
      async refuseConnections(on) {
        refusing = on;
        if (on) await closeServer();
        else if (!server.listening) await listen(port);
      },
      delay(ms) {
        delayMs = ms;
      },
      fail(status, count = -1) {
        failStatus = status;
        failCount = count;
      },
      resetIndex() {
        index = kv.size + 1;
        let i = 1;
        for (const e of kv.values()) {
          e.createIndex = Math.min(e.createIndex, i);
          e.modifyIndex = i++;
        }
        tombstones.clear();
        notify();
      },
      knownLeader(on) {
        knownLeader = on;
      },
    },
    revokeToken(token) {
      revoked.add(token);
    },
    expireSession(id) {
      invalidate(id);
    },
    expireAllSessions() {
      for (const id of [...sessions.keys()]) invalidate(id);
    },
    async close() {
      for (const s of sessions.values()) if (s.timer) clearTimeout(s.timer);
      notify();
      await closeServer();
    },
  };
}
