// The consul client's failures → KVErrors that say what failed, on which key, and why — never
// with the token, and never carrying the client's response (its request holds the token header).
import { KVError } from '../errors.js';

/** What a call was doing, for messages: `put "haproxy/x"` needs write on "haproxy/x". */
export interface ConsulOp {
  /** `put "haproxy/x"`, `list "haproxy/"`, ... */
  what: string;
  /** The access it needs, for 403 messages: "read", "write", "list the keys under". */
  access: string;
  /** The key or prefix. */
  target: string;
}

interface ClientFailure {
  message?: string;
  code?: string;
  statusCode?: number;
  isTimeout?: boolean;
  isValidation?: boolean;
  response?: { statusCode?: number; body?: unknown };
}

/** A plain cause for an HTTP failure: status and body, nothing of the request. */
export class ConsulHttpError extends Error {
  override readonly name = 'ConsulHttpError';
  constructor(
    readonly statusCode: number,
    readonly body: string,
  ) {
    super(`HTTP ${statusCode}${body ? `: ${body}` : ''}`);
  }
}

export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof KVError) return httpStatusOf(err.cause);
  if (err instanceof ConsulHttpError) return err.statusCode;
  const e = err as ClientFailure | undefined;
  return e?.response?.statusCode ?? e?.statusCode;
}

export function toKVError(err: unknown, op: ConsulOp, ctx: { describe: string; token?: string; timeoutMs: number }): KVError {
  const redact = (text: string) => (ctx.token ? text.split(ctx.token).join('<token>') : text);
  const e = (err ?? {}) as ClientFailure;
  const where = `${ctx.describe}: ${op.what}`;
  const status = e.response?.statusCode;
  if (status !== undefined) {
    const raw = e.response?.body;
    const body = redact(typeof raw === 'string' ? raw.trim() : Buffer.isBuffer(raw) ? raw.toString('utf8').trim() : raw === undefined ? '' : JSON.stringify(raw));
    const cause = new ConsulHttpError(status, body);
    const said = body ? `; Consul said "${body.slice(0, 300)}"` : '';
    if (status === 403) {
      const why = /ACL not found/i.test(body)
        ? 'the ACL token is unknown or was revoked'
        : ctx.token
          ? `the ACL token lacks permission to ${op.access} "${op.target}"`
          : `no ACL token is set and the anonymous token lacks permission to ${op.access} "${op.target}" (set CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE)`;
      return new KVError('KV_FORBIDDEN', `${where}: permission denied (${why}${said})`, { cause });
    }
    if (status === 400 || status === 413) return new KVError('KV_BAD_REQUEST', `${where}: refused as a bad request (HTTP ${status}${said})`, { cause });
    if (status === 429) return new KVError('KV_SERVER', `${where}: rate limited (HTTP 429${said})`, { cause });
    if (status >= 500) return new KVError('KV_SERVER', `${where}: server error ${status}${said}`, { cause });
    return new KVError('KV_SERVER', `${where}: unexpected HTTP ${status}${said}`, { cause });
  }
  if (e.isValidation) return new KVError('KV_BAD_REQUEST', `${where}: ${redact(e.message ?? String(err))}`, { cause: err });
  if (e.isTimeout) return new KVError('KV_UNREACHABLE', `${where}: timed out: no answer within ${ctx.timeoutMs} ms`, { cause: err });
  const code = e.code ? `${e.code}, ` : '';
  const detail = redact(e.message ?? String(err)).replace(/^consul: [\w.]+: /, '');
  return new KVError('KV_UNREACHABLE', `${where}: cannot connect or lost the connection (${code}${detail})`, { cause: err });
}

/** HTTP answers that say the server, not the request, failed: a read may be sent again. */
const TRANSIENT_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/**
 * A read that failed this way may succeed when sent again: the connection was refused, reset or
 * closed (not a timeout: that one already waited its whole deadline), or the server answered 429/5xx.
 */
export function isTransientRead(err: unknown): boolean {
  if (!(err instanceof KVError)) return false;
  if (err.code === 'KV_UNREACHABLE') return !(err.cause as ClientFailure | undefined)?.isTimeout;
  if (err.code === 'KV_SERVER') return TRANSIENT_STATUS.has(httpStatusOf(err) ?? 0);
  return false;
}
