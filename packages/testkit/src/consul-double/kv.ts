// The KV endpoints: GET (?recurse, ?raw, ?keys, ?separator, blocking on ?index), PUT (?cas,
// ?flags, ?acquire, ?release) and DELETE (?recurse, ?cas), each checked against the token's key rules.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authorizer } from './acl.js';
import { blockingParams, type BlockedQueries } from './blocking.js';
import { conflicting, readBody, uintParam, type Send } from './http.js';
import { byKey, type Entry, type State } from './state.js';

const MAX_VALUE = 512 * 1024;

const entryJson = (key: string, e: Entry) => ({
  LockIndex: e.lockIndex,
  Key: key,
  Flags: Number(e.flags),
  Value: e.value.length ? e.value.toString('base64') : null,
  CreateIndex: e.createIndex,
  ModifyIndex: e.modifyIndex,
  ...(e.session ? { Session: e.session } : {}),
});

export class KvEndpoints {
  readonly #state: State;
  readonly #queries: BlockedQueries;
  readonly #send: Send;

  constructor(state: State, queries: BlockedQueries, send: Send) {
    this.#state = state;
    this.#queries = queries;
    this.#send = send;
  }

  async get(res: ServerResponse, q: URLSearchParams, key: string, auth: Authorizer): Promise<void> {
    const { kv } = this.#state;
    const send = this.#send;
    const keysOnly = q.has('keys');
    const list = keysOnly || q.has('recurse');
    if (!list && key === '') return send(res, 400, 'Missing key name');
    const p = blockingParams(q);
    if (typeof p === 'string') return send(res, 400, p);
    const canRead = (k: string) => auth.allows('key', 'read', k);
    if (list ? auth.refusesList(key) : !canRead(key)) return send(res, 403, 'Permission denied');
    if (!(await this.#queries.waitForChange(res, p, () => this.#state.readIndex(key, list)))) return;
    const idx = this.#state.readIndex(key, list);
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
  }

  async put(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, key: string, auth: Authorizer): Promise<void> {
    const state = this.#state;
    const send = this.#send;
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
    const cur = state.kv.get(key);
    const write = (session: string | undefined, lockIndex: number) => {
      const idx = state.bump();
      state.kv.set(key, {
        value: body,
        // Consul sets Flags on every write: 0 unless ?flags is given.
        flags: String(flags ?? 0),
        createIndex: cur?.createIndex ?? idx,
        modifyIndex: idx,
        lockIndex,
        ...(session ? { session } : {}),
      });
      state.tombstones.delete(key);
      state.kvIndex = idx;
      this.#queries.notify();
    };
    const lockIndex = cur?.lockIndex ?? 0;
    if (cas !== undefined) {
      if (cas === 0 ? cur !== undefined : cur?.modifyIndex !== cas) return send(res, 200, false);
      write(cur?.session, lockIndex);
      return send(res, 200, true);
    }
    if (q.has('acquire')) {
      const id = q.get('acquire') ?? '';
      if (!state.sessions.has(id)) return send(res, 500, `Invalid session "${id}"`);
      if ((state.lockDelays.get(key) ?? 0) > Date.now()) return send(res, 200, false);
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
  }

  delete(res: ServerResponse, q: URLSearchParams, key: string, auth: Authorizer): void {
    const state = this.#state;
    const send = this.#send;
    const conflict = conflicting(q, ['recurse', 'cas']);
    if (conflict) return send(res, 400, conflict);
    const recurse = q.has('recurse');
    if (!recurse && key === '') return send(res, 400, 'Missing key name');
    const cas = uintParam(q, 'cas');
    if (cas === 'bad') return send(res, 400, `Invalid cas index "${q.get('cas')}"`);
    if (recurse ? !auth.canWritePrefix(key) : !auth.allows('key', 'write', key)) return send(res, 403, 'Permission denied');
    const idx = state.bump();
    const gone = recurse ? [...state.kv.keys()].filter((k) => k.startsWith(key)) : state.kv.has(key) ? [key] : [];
    const cur = state.kv.get(key);
    // Consul: a delete-cas of an absent key succeeds; of a present key only at its ModifyIndex.
    if (cas !== undefined && cur && cur.modifyIndex !== cas) return send(res, 200, false);
    for (const k of gone) {
      state.kv.delete(k);
      state.tombstones.set(k, idx);
    }
    if (gone.length) {
      state.kvIndex = idx;
      this.#queries.notify();
    }
    return send(res, 200, true);
  }
}
