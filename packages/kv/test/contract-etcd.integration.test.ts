import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createEtcdStore } from '@confd-haproxy/kv';
import { startEtcd } from '@confd-haproxy/testkit';
import { runContract } from './contract.js';

// A real etcd from Debian's etcd-server, on loopback ports with a temp data dir.
const etcd = await startEtcd();
t.teardown(() => etcd.stop());

runContract(t, {
  name: 'etcd',
  async open() {
    const a = createEtcdStore({ nodes: [etcd.endpoint] });
    const b = createEtcdStore({ nodes: [etcd.endpoint] });
    return {
      a,
      b,
      prefix: `haproxy-${randomBytes(4).toString('hex')}/`,
      lockTtlMs: 2000,
      close: async () => {
        await a.close();
        await b.close();
      },
    };
  },
});
