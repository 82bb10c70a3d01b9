// checkmemcached's decision, a pure function of what a pass saw: the active server (sticky while
// healthy, else the first healthy in the order given), the others as backups. rules.test.ts tests it.
import { sameTarget, targetId, type Choice, type ProbeData, type Target } from '@confd-haproxy/checker';
import { DEFAULT_WEIGHT, type Entry, type EntryBody } from '@confd-haproxy/schema';
import type { MemcachedChoiceDetail, MemcachedProbeData } from './types.js';

/** The default proxyport is the first server's port + 5000, as the original. */
export const MEMCACHED_PROXYPORT_OFFSET = 5000;

export interface ActiveInput {
  tag: string;
  /** Every configured server, in order. */
  servers: Target[];
  proxyport?: number;
  /** The servers healthy enough to serve this pass, in order. */
  eligible: Target[];
  current: Entry | undefined;
  probed: ProbeData<MemcachedProbeData>;
}

/** The entry for this pass: none when nothing is alive (HAProxy keeps what it has). */
export function chooseActive({ tag, servers, proxyport, eligible, current, probed }: ActiveInput): Choice<MemcachedChoiceDetail> {
  const detail = { sasl: saslProblems(servers, probed) };
  if (eligible.length === 0) return { detail };
  const active = (current && eligible.find((t) => sameTarget(t, current))) ?? eligible[0]!;
  const entry: EntryBody = {
    name: tag,
    host: active.host,
    port: active.port,
    // From the first configured server, so the listen port never moves with the active one.
    proxyport: proxyport ?? servers[0]!.port + MEMCACHED_PROXYPORT_OFFSET,
    servers: [active, ...servers.filter((t) => !sameTarget(t, active))].map((t) => ({
      host: t.host,
      port: t.port,
      weight: DEFAULT_WEIGHT,
      role: sameTarget(t, active) ? ('active' as const) : ('backup' as const),
    })),
  };
  return { detail, entry };
}

/** The servers whose probe found a SASL problem, in server order. */
function saslProblems(servers: Target[], probed: ProbeData<MemcachedProbeData>): MemcachedChoiceDetail['sasl'] {
  return servers.flatMap((target) => {
    const problem = probed.get(targetId(target))?.sasl;
    return problem ? [{ target, problem }] : [];
  });
}
