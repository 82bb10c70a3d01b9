import t from 'tap';
import { createConsulStore } from '@confd-haproxy/kv';
import { consulTarget, realAgent, uniquePrefix } from './helpers/consul.js';
import { runContract } from './contract.js';

const target = await consulTarget();
t.teardown(() => target.close());
const env = realAgent ? { CONSUL_HTTP_TOKEN: process.env.CONSUL_HTTP_TOKEN } : {};

runContract(t, {
  name: realAgent ? `consul agent ${realAgent}` : 'consul (double)',
  async open() {
    const a = createConsulStore({ address: target.address, env });
    const b = createConsulStore({ address: target.address, env });
    const prefix = uniquePrefix();
    return {
      a,
      b,
      prefix,
      lockTtlMs: 10_000,
      close: async () => {
        await a.delete(prefix.replace(/\/$/, ''), {}).catch(() => {});
        await a.close();
        await b.close();
      },
    };
  },
});
