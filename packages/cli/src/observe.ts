// --listen 127.0.0.1:PORT: /livez (the process answers: for restarts, never fails on a store
// outage), /healthz (alive and hearing from the store), /readyz (did real work from fresh data),
// /metrics (Prometheus text, prom-client). One small server for every bin.
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { UsageError } from './common.js';

export interface Verdict {
  ok: boolean;
  why: string;
}

export interface ObserverOptions {
  listen: string;
  registry: Registry;
  health(): Verdict;
  ready(): Verdict;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen: "${text}" is not host:port (e.g. 127.0.0.1:9100)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export async function startObserver(opts: ObserverOptions): Promise<Server> {
  const { host, port } = parseListen(opts.listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const verdict = (v: Verdict) => {
      res.writeHead(v.ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${v.ok ? 'ok' : 'not ok'}: ${v.why}\n`);
    };
    if (path === '/livez') return verdict({ ok: true, why: `up ${Math.round(process.uptime())} s` });
    if (path === '/healthz') return verdict(opts.health());
    if (path === '/readyz') return verdict(opts.ready());
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': opts.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: /livez, /healthz, /readyz, /metrics\n');
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (err) => fail(new UsageError(`--listen ${opts.listen}: ${err.message}`)));
    server.listen(port, host, () => done());
  });
  server.unref();
  return server;
}
