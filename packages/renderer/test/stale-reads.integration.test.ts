// A render from Consul data read without a known leader (X-Consul-KnownLeader: false) is refused
// unless --allow-stale; the Consul double answers as an agent that lost its leader.
import t from 'tap';
import { createConsulStore } from '@confd-haproxy/kv';
import { runOnce } from '@confd-haproxy/renderer';
import { startConsulDouble } from '@confd-haproxy/testkit';
import { confdirFiles, dest, entry, quietLogger, read } from './helpers.js';

const signal = new AbortController().signal;

t.test('data read without a known leader is refused unless allowed', async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const dir = t.testdir(confdirFiles());
  const store = createConsulStore({ address: double.address });
  t.teardown(() => store.close());
  await store.put('haproxy/mysqlslave/s0', entry('s0', 3300));
  double.faults.knownLeader(false);
  const opts = { store, confdir: dir, logger: quietLogger(), signal };
  t.match(await runOnce(opts), { ok: false, errors: [{ code: 'GUARD_REFUSED', message: /without a known leader/ }] });
  t.equal(read(dest(dir)), '', 'nothing written');
  t.equal((await runOnce({ ...opts, allowStale: true })).ok, true, '--allow-stale renders');
  t.match(read(dest(dir)), /s0-mysql/);
});
