// What the render worker's owner needs of the engine without loading it (Handlebars stays in the
// worker): the DNS answers to a render's lookups, and how messages name a template file.
import { lookup as dnsLookup, Resolver } from 'node:dns/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { LookupRequest } from './helpers.js';

export type LookupAnswerer = (ids: readonly string[], signal?: AbortSignal) => Promise<ReadonlyArray<readonly [string, unknown]>>;

async function withTimeout<T>(what: Promise<T>, ms: number, signal: AbortSignal | undefined, onStop: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      what,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
        onAbort = () => reject(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    onStop();
  }
}

async function resolveLookup(req: LookupRequest, timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
  if (req.kind === 'srv') {
    const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
    const recs = await withTimeout(resolver.resolveSrv(req.name), timeoutMs, signal, () => resolver.cancel());
    const srv = recs.map((r) => ({ Target: r.name, Port: r.port, Priority: r.priority, Weight: r.weight }));
    const sortKey = (s: (typeof srv)[number]) => `${s.Target}:${s.Port}:${s.Priority}:${s.Weight}`;
    return srv.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
  }
  const family = req.kind === 'ip4' ? 4 : req.kind === 'ip6' ? 6 : 0;
  const addrs = await withTimeout(dnsLookup(req.name, { all: true, family }), timeoutMs, signal, () => {});
  return [...new Set(addrs.map((a) => a.address))].sort();
}

/** Lookups answered by DNS from this thread, each within timeoutMs; a stop (signal) rejects. */
export function dnsAnswerer(timeoutMs: number): LookupAnswerer {
  return (ids, signal) =>
    Promise.all(
      ids.map(async (id): Promise<readonly [string, unknown]> => {
        try {
          return [id, await resolveLookup(JSON.parse(id) as LookupRequest, timeoutMs, signal)];
        } catch (err) {
          if (signal?.aborted) throw err;
          return [id, []]; // confd: a failed lookup is an empty list
        }
      }),
    );
}

/** How messages name a template: relative to templatesDir when inside it, else its path. */
export function templateFileName(templatesDir: string, path: string): string {
  const rel = relative(templatesDir, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel.split(sep).join('/');
}

/** How messages name a resource's `src` (relative to templatesDir, or absolute). */
export const srcFileName = (templatesDir: string, src: string): string => templateFileName(templatesDir, isAbsolute(src) ? src : join(templatesDir, src));
