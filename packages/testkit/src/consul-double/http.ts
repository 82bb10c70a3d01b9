// How the double reads a request and writes an answer: Consul's headers on every answer, the
// body, and the query parameters every endpoint parses the same way.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api-error.js';

/** Answer with Consul's headers; `idx` defaults to the Raft index now. */
export type Send = (res: ServerResponse, status: number, body: unknown, idx?: number, contentType?: string) => void;

/** The double's `send`: X-Consul-Index (never below 1), X-Consul-KnownLeader and X-Consul-LastContact on every answer. */
export function sender(raftIndex: () => number, knownLeader: () => boolean): Send {
  return (res, status, body, idx = raftIndex(), contentType) => {
    if (res.headersSent || res.destroyed) return;
    const text = Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'),
      'X-Consul-Index': String(Math.max(1, idx)),
      'X-Consul-KnownLeader': String(knownLeader()),
      'X-Consul-LastContact': '0',
    });
    res.end(text);
  };
}

export const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => done(Buffer.concat(chunks)));
    req.on('error', fail);
  });

/** A JSON object body (an empty body is `{}`), or a 400 ApiError. */
export const jsonBody = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
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

/** Consul's answer to non-composable query flags, e.g. cas with acquire. */
export const conflicting = (q: URLSearchParams, names: string[]): string | undefined =>
  names.filter((n) => q.has(n)).length > 1 ? `Conflicting flags: ${q.toString()}\n` : undefined;

export const uintParam = (q: URLSearchParams, name: string): number | undefined | 'bad' => {
  if (!q.has(name)) return undefined;
  const v = q.get(name) ?? '';
  return /^\d+$/.test(v) ? Number(v) : 'bad';
};

/** Tell the client that an answer left out what the token may not read (Consul 1.11+). */
export const markFiltered = (res: ServerResponse, removed: boolean) => {
  if (removed) res.setHeader('X-Consul-Results-Filtered-By-ACLs', 'true');
};
