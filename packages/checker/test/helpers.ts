// A tiny line-protocol service on loopback and a checker kind that probes it, so the core's
// behaviour (timeouts, counters, CAS, locks) is tested on real sockets without a database.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { createFileStore, type KVStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type CheckerKind, type CheckerLogger, type Choice, type Entry, type EntryBody, type PassReport, type Target } from '@confd-haproxy/checker';

export type Mode = 'ok' | 'fail' | 'hang';

export interface PingService extends Target {
  mode: Mode;
  /** Connections currently open on the server side. */
  readonly open: number;
  close(): Promise<void>;
}

/** Answers "ok" or "fail" to each "ping" line; in mode "hang" it accepts and never answers. */
export async function startPingService(mode: Mode = 'ok'): Promise<PingService> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', () => {
      if (svc.mode !== 'hang') s.write(`${svc.mode}\n`);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const svc: PingService = {
    host: '127.0.0.1',
    port: (server.address() as { port: number }).port,
    mode,
    get open() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
  return svc;
}

/** Probe: connect, send "ping", expect "ok"; the signal destroys the socket. */
export function probePing(t: Target, signal: AbortSignal): Promise<{ ok: boolean; reason?: string }> {
  return new Promise((done) => {
    const s = connect({ host: t.host, port: t.port });
    const finish = (r: { ok: boolean; reason?: string }) => {
      signal.removeEventListener('abort', onAbort);
      s.destroy();
      done(r);
    };
    const onAbort = () => finish({ ok: false, reason: 'timed out' });
    signal.addEventListener('abort', onAbort, { once: true });
    s.on('error', (err) => finish({ ok: false, reason: err.message }));
    s.on('connect', () => s.write('ping\n'));
    s.on('data', (d) => finish(d.toString().trim() === 'ok' ? { ok: true } : { ok: false, reason: `answered ${d.toString().trim()}` }));
  });
}

export interface PingKindOptions {
  targets: Target[];
  /** Keep the current target while it is eligible (true) or always take the first eligible. */
  sticky?: boolean;
  /** Replace the probe (e.g. one that ignores its signal). */
  probe?: CheckerKind['probe'];
  /** Post-process the chosen entry (e.g. to make it invalid). */
  mangle?: (e: EntryBody) => EntryBody;
}

/** A kind in the shape of checkmemcached: one active server, the others backups. */
export function pingKind(opts: PingKindOptions): CheckerKind & { probes: number } {
  const same = (a: Target, b: Target) => a.host === b.host && a.port === b.port;
  const kind = {
    kind: 'ping',
    probes: 0,
    targets: async () => opts.targets,
    probe: (t: Target, signal: AbortSignal) => {
      kind.probes++;
      return (opts.probe ?? probePing)(t, signal);
    },
    choose({ eligible, current }: { eligible: Target[]; current: Entry | undefined }): Choice {
      if (eligible.length === 0) return {};
      const active = (opts.sticky !== false && current && eligible.find((t) => same(t, current))) || eligible[0]!;
      const body: EntryBody = {
        name: 'p1',
        host: active.host,
        port: active.port,
        proxyport: 20000,
        servers: [active, ...opts.targets.filter((t) => !same(t, active))].map((t) => ({ host: t.host, port: t.port, weight: 100, role: same(t, active) ? ('active' as const) : ('backup' as const) })),
      };
      return { entry: opts.mangle ? opts.mangle(body) : body };
    },
  };
  return kind;
}

/** The real store with some of its calls (or its description) replaced: a race before a put, a renew that fails. */
export function storeWith(real: KVStore, replaced: Partial<KVStore>): KVStore {
  return {
    backend: real.backend,
    describe: real.describe,
    list: (p, o) => real.list(p, o),
    watch: (p, since, o) => real.watch(p, since, o),
    get: (k, o) => real.get(k, o),
    put: (k, v, o) => real.put(k, v, o),
    delete: (k, o) => real.delete(k, o),
    acquireLock: (k, o) => real.acquireLock(k, o),
    close: () => real.close(),
    ...replaced,
  };
}

/** A checker of one tag over its own file store, without the cluster lock (tests of the choice alone); closed at the test's end. */
export function lockFreeChecker<T extends Target, P, C, D>(t: Test, tag: string, kind: CheckerKind<T, P, C, D>): TagChecker<T, P, C, D> {
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const c = new TagChecker({ tag, kind, store, logger: quiet, checker: 'test:1', timeoutMs: 200, retryUp: 1, retryDown: 1, lockTtlMs: 3000, noLock: true });
  t.teardown(async () => {
    await c.close();
    await store.close();
  });
  return c;
}

import { quiet } from '@confd-haproxy/testkit';

export { quiet };

export function collect(lines: string[]): CheckerLogger {
  return { debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll fn every 20 ms until it is true or ms ran out; returns the elapsed time or -1. */
export async function within(ms: number, fn: () => boolean | Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await fn()) return Date.now() - started;
    await sleep(20);
  }
  return (await fn()) ? Date.now() - started : -1;
}

/** A checker's run() until the test ends, its reports collected; stopped and awaited at teardown. */
export function looping<T extends Target>(t: Test, c: TagChecker<T>, intervalMs: number): PassReport<T>[] {
  const reports: PassReport<T>[] = [];
  const ac = new AbortController();
  const running = runTagChecker(c, { intervalMs, signal: ac.signal, onPass: (r) => reports.push(r) });
  t.teardown(async () => {
    ac.abort();
    await running;
  });
  return reports;
}
