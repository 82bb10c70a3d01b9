// checkmemcached: one active server per tag (sticky while healthy, else the first healthy in the
// order given), the others rendered as HAProxy backups so HAProxy fails over before we write.
import type { CheckerKind, Target } from '@confd-haproxy/checker';
import type { Entry, EntryBody } from '@confd-haproxy/schema';
import { MemcachedProbe } from './probe.js';

export const MEMCACHED_PROXYPORT_OFFSET = 5000;

export interface MemcachedKindOptions {
  tag: string;
  servers: Target[];
  /** Default port + 5000, as the original. */
  proxyport?: number;
}

const same = (a: Target, b: { host: string; port: number }) => a.host === b.host && a.port === b.port;

export function memcachedKind(opts: MemcachedKindOptions): CheckerKind {
  const probes = new Map<string, MemcachedProbe>();
  let lost: ((t: Target, reason: string) => void) | undefined;
  const probeOf = (t: Target) => {
    const k = `${t.host}:${t.port}`;
    let p = probes.get(k);
    if (!p) probes.set(k, (p = new MemcachedProbe(t.host, t.port, (reason) => lost?.(t, reason))));
    return p;
  };
  return {
    kind: 'memcached',
    targets: async () => opts.servers,
    probe: (t, signal) => probeOf(t).probe(signal),
    heartbeat: (t, signal) => probeOf(t).heartbeat(signal),
    onConnectionLost: (fn) => {
      lost = fn;
    },
    close: async () => {
      for (const p of probes.values()) p.close();
    },
    choose(eligible, current): EntryBody | undefined {
      if (eligible.length === 0) return undefined; // nothing alive: keep what HAProxy has
      const active = (current && eligible.find((t) => same(t, current))) ?? eligible[0]!;
      return {
        name: opts.tag,
        host: active.host,
        port: active.port,
        // From the first configured server, so the listen port never moves with the active one.
        proxyport: opts.proxyport ?? opts.servers[0]!.port + MEMCACHED_PROXYPORT_OFFSET,
        servers: [active, ...opts.servers.filter((t) => !same(t, active))].map((t) => ({
          host: t.host,
          port: t.port,
          weight: 100,
          role: same(t, active) ? ('active' as const) : ('backup' as const),
        })),
      };
    },
    okLine: (e: Entry) => `current ${e.host}:${e.port} is ok`,
    changedLine: (e: Entry) => `set new alive ${e.host}:${e.port} with tag ${e.name} ok`,
  };
}
