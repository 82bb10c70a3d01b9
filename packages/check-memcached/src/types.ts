// What checkmemcached's probes and kind share: start reading here (this file imports nothing local).
import type { Target } from '@confd-haproxy/checker';

/** The login for servers started with -S: SASL PLAIN, which only the binary protocol carries. */
export interface SaslCredentials {
  user: string;
  password: string;
}

/** Why a server will not serve this checker: it refused the login, or it needs one and none is set. */
export type SaslProblem = 'refused' | 'required';

/** What a probe learned beyond ok: a SASL problem, when there was one. */
export interface MemcachedProbeData {
  sasl?: SaslProblem;
}

export interface ProbeOutcome {
  ok: boolean;
  reason?: string;
  data?: MemcachedProbeData;
  /** The server closed the connection after the request and before any answer (a text probe against memcached -S does this). */
  unanswered?: boolean;
}

/** One server's probe on its kept connection: the text protocol, or memjs with SASL. */
export interface ServerProbe {
  probe(signal: AbortSignal): Promise<ProbeOutcome>;
  /** Between probes, on the kept connection: the cheapest request the server answers. */
  heartbeat(signal: AbortSignal): Promise<ProbeOutcome>;
  close(): void;
}

/** The kind's choice detail: this pass's servers with a SASL problem, which --once exits 65 on. */
export interface MemcachedChoiceDetail {
  sasl: { target: Target; problem: SaslProblem }[];
}
