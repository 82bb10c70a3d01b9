// The stores a fleet scenario runs over: the Consul double (or a real agent with CONSUL_HTTP_ADDR)
// and a real etcd. Starts services: for integration tests only.
import t from 'tap';
import type { Test } from 'tap';
import { createConsulStore, createEtcdStore, type KVStore } from '@confd-haproxy/kv';
import { startConsulDouble, startEtcd } from '@confd-haproxy/testkit';

/** A scenario: its name, a maker of store clients, and the status TTL that store allows. */
export type Scenario = (t: Test, name: string, store: () => KVStore, statusTtlMs: number) => Promise<void>;

/** Run the scenario over the Consul double (or a real agent with CONSUL_HTTP_ADDR) and over a real etcd. */
export function overEveryStore(scenario: Scenario): void {
  t.test('over Consul', async (t) => {
    let address = process.env.CONSUL_HTTP_ADDR;
    if (!address) {
      const double = await startConsulDouble();
      t.teardown(() => double.close());
      address = double.address;
    }
    await scenario(t, 'consul', () => createConsulStore({ address: address! }), 10_000);
  });

  t.test('over etcd', async (t) => {
    const etcd = await startEtcd();
    t.teardown(() => etcd.stop());
    await scenario(t, 'etcd', () => createEtcdStore({ nodes: [etcd.endpoint] }), 2000);
  });
}
