// checkmemcached: one active server per tag (sticky while healthy, else the first healthy in the
// order given), the others rendered as HAProxy backups so HAProxy fails over before we write.
import { targetId, type CheckerKind, type Choice, type Target } from '@confd-haproxy/checker';
import type { Entry } from '@confd-haproxy/schema';
import { saslReason } from './errors.js';
import { MemjsProbe } from './memjs-probe.js';
import { MemcachedProbe } from './probe.js';
import { chooseActive } from './rules.js';
import { saslRequired } from './sasl-required.js';
import type { MemcachedChoiceDetail, MemcachedProbeData, ProbeOutcome, SaslCredentials, ServerProbe } from './types.js';

export interface MemcachedKindOptions {
  tag: string;
  servers: Target[];
  /** Default port + 5000, as the original. */
  proxyport?: number;
  /** Log in with SASL PLAIN: probes go through memjs over the binary protocol instead of the text protocol. */
  sasl?: SaslCredentials;
  /** The checker's probe deadline (ms), which memjs's own timers are set past (default 10 s). */
  timeoutMs?: number;
}

const DEFAULT_DEADLINE_MS = 10_000;

/** What the checker core receives: ok, the reason and the data, without the probes' own flags. */
const outcome = ({ ok, reason, data }: ProbeOutcome) => ({ ok, ...(reason !== undefined ? { reason } : {}), ...(data ? { data } : {}) });

/** The key segment of this kind's entries: haproxy/memcached/<tag>. */
export const MEMCACHED_KIND = 'memcached';

export function memcachedKind(opts: MemcachedKindOptions): CheckerKind<Target, MemcachedProbeData, unknown, MemcachedChoiceDetail> {
  const probes = new Map<string, ServerProbe>();
  let lost: ((t: Target, reason: string) => void) | undefined;
  const probeOf = (t: Target) => {
    let p = probes.get(targetId(t));
    if (p) return p;
    const onLost = (reason: string) => lost?.(t, reason);
    const { sasl } = opts;
    p = sasl ? new MemjsProbe({ host: t.host, port: t.port, sasl, deadlineMs: opts.timeoutMs ?? DEFAULT_DEADLINE_MS, onLost }) : new MemcachedProbe(t.host, t.port, onLost);
    probes.set(targetId(t), p);
    return p;
  };
  return {
    kind: MEMCACHED_KIND,
    targets: async () => opts.servers,
    probe: async (t, signal) => {
      const r = await probeOf(t).probe(signal);
      if (!r.unanswered || opts.sasl) return outcome(r);
      // Closed unanswered: memcached -S does that to a text request once it has read a binary header's
      // 24 bytes (the probe's request is longer); ask the server whether it wants a login.
      return (await saslRequired(t.host, t.port, signal)) ? { ok: false, reason: saslReason('required'), data: { sasl: 'required' } } : outcome(r);
    },
    heartbeat: (t, signal) => probeOf(t).heartbeat(signal),
    onConnectionLost: (fn) => {
      lost = fn;
    },
    close: async () => {
      for (const p of probes.values()) p.close();
    },
    choose: ({ eligible, current, probed }): Choice<MemcachedChoiceDetail> => chooseActive({ ...opts, eligible, current, probed }),
    okLine: (e: Entry) => `current ${e.host}:${e.port} is ok`,
    changedLine: (e: Entry) => `set new alive ${e.host}:${e.port} with tag ${e.name} ok`,
  };
}
