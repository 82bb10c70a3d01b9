// Where the Consul tests run: a real agent when CONSUL_HTTP_ADDR is set, otherwise the double.
import { randomBytes } from 'node:crypto';
import { CONSUL_SESSION_TTL_MIN_MS } from '@confd-haproxy/kv';
import { startConsulDouble, type ConsulDouble, type ConsulDoubleOptions } from '@confd-haproxy/testkit';

export const realAgent = process.env.CONSUL_HTTP_ADDR || undefined;

/** What a store needs to reach the real agent (CONSUL_* from the test's environment), or nothing for the double. */
export const agentEnv: Record<string, string | undefined> = realAgent
  ? Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CONSUL_')))
  : {};

/** Options for cases that need the double: they are skipped, saying why, against a real agent. */
export const onlyDouble = realAgent ? { skip: 'needs the Consul double (fault injection or its request log); CONSUL_HTTP_ADDR is set' } : {};

export interface ConsulTarget {
  address: string;
  /** Pass to createConsulStore: the real agent's token and TLS settings, if any. */
  env: Record<string, string | undefined>;
  /** The agent's session_ttl_min (ms): what the double was given, Consul's default on a real agent. */
  sessionTtlMinMs: number;
  /** Only when running against the double. */
  double?: ConsulDouble;
  /** Raw HTTP to the agent's /v1 API, with the agent's token when there is one. */
  api(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function consulTarget(opts: ConsulDoubleOptions = {}): Promise<ConsulTarget> {
  const double = realAgent ? undefined : await startConsulDouble(opts);
  const address = realAgent ?? double!.address;
  const base = /^https?:\/\//.test(address) ? address : `http://${address}`;
  const token = realAgent ? process.env.CONSUL_HTTP_TOKEN : undefined;
  return {
    address,
    env: agentEnv,
    sessionTtlMinMs: double ? (opts.sessionTtlMinMs ?? CONSUL_SESSION_TTL_MIN_MS) : CONSUL_SESSION_TTL_MIN_MS,
    ...(double ? { double } : {}),
    api: (path, init = {}) =>
      fetch(`${base}/v1${path}`, { ...init, headers: { ...(token ? { 'X-Consul-Token': token } : {}), ...(init.headers as Record<string, string> | undefined) } }),
    close: async () => {
      await double?.close();
    },
  };
}

export const uniquePrefix = () => `confd-haproxy-test/${randomBytes(6).toString('hex')}/`;
