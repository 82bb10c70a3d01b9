// Where the Consul tests run: a real agent when CONSUL_HTTP_ADDR is set, otherwise the double.
import { randomBytes } from 'node:crypto';
import { startConsulDouble, type ConsulDouble, type ConsulDoubleOptions } from '@confd-haproxy/testkit';

export const realAgent = process.env.CONSUL_HTTP_ADDR;

export interface ConsulTarget {
  address: string;
  /** Only when running against the double. */
  double?: ConsulDouble;
  close(): Promise<void>;
}

export async function consulTarget(opts: ConsulDoubleOptions = {}): Promise<ConsulTarget> {
  if (realAgent) return { address: realAgent, close: async () => {} };
  const double = await startConsulDouble(opts);
  return { address: double.address, double, close: () => double.close() };
}

export const uniquePrefix = () => `confd-haproxy-test/${randomBytes(6).toString('hex')}/`;
