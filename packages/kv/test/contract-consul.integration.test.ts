import t from 'tap';
import { createConsulStore } from '@confd-haproxy/kv';
import { consulTarget, realAgent, uniquePrefix } from './helpers/consul.js';
import { runContract } from './contract.js';

// One double for the file (tap runs files in parallel, each on its own free port); every case
// gets its own random prefix, so a real agent can be reused between runs. The double's
// session_ttl_min is lowered, as an operator may, so the lock cases wait out 1 s TTLs, not 10 s.
const target = await consulTarget({ sessionTtlMinMs: 1000 });
t.teardown(() => target.close());

runContract(t, {
  name: realAgent ? `consul agent ${realAgent}` : 'consul (double)',
  // Every case has a prefix of its own, and Consul indexes a prefix by its own keys (and tombstones).
  casesAtOnce: 8,
  async open() {
    const options = { address: target.address, env: target.env, sessionTtlMinMs: target.sessionTtlMinMs };
    const a = createConsulStore(options);
    const b = createConsulStore(options);
    const prefix = uniquePrefix();
    return {
      a,
      b,
      prefix,
      lockTtlMs: target.sessionTtlMinMs,
      close: async () => {
        // Leave nothing behind on a real agent: the prefix's keys, then the clients.
        await target.api(`/kv/${prefix}?recurse`, { method: 'DELETE' }).catch(() => undefined);
        await a.close();
        await b.close();
      },
    };
  },
});
