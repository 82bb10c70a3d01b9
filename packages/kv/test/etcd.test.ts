import t from 'tap';
import { createEtcdStore } from '@confd-haproxy/kv';
import { startEtcd } from '@confd-haproxy/testkit';
import { spawnSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const etcd = await startEtcd();
t.teardown(() => etcd.stop());

t.test('an unreachable etcd is KV_UNREACHABLE', async (t) => {
  const store = createEtcdStore({ nodes: ['http://127.0.0.1:1'], timeoutMs: 1000 });
  t.teardown(() => store.close());
  await t.rejects(store.list('haproxy/'), { code: 'KV_UNREACHABLE' });
});

t.test('confd-haproxy reads etcd with -backend etcd -node, as confd', async (t) => {
  const store = createEtcdStore({ nodes: [etcd.endpoint] });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/m1', JSON.stringify({ name: 'etcdmem', host: '127.0.0.1', port: 11211, proxyport: 16299 }));
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const dir = t.testdir({ 'conf.d': { 'haproxy.toml': '[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\n' }, out: {} });
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/dist/confd-haproxy.js'), 'plan', '-backend', 'etcd', '-node', etcd.endpoint, '-confdir', dir], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2, 'a change is pending');
  t.match(r.stdout, /\+listen etcdmem\n\+    bind 0\.0\.0\.0:16299/);
});

t.test('a watch from a compacted revision answers at once with a fresh read', async (t) => {
  const store = createEtcdStore({ nodes: [etcd.endpoint] });
  t.teardown(() => store.close());
  await store.put('haproxy/compact/k', 'v1');
  const old = (await store.list('haproxy/compact/')).index;
  for (let i = 2; i <= 5; i++) await store.put('haproxy/compact/k', `v${i}`);
  const latest = (await store.list('haproxy/compact/')).index;
  // Compact through etcd's own JSON gateway, as an operator's `etcdctl compact` would.
  const res = await fetch(`${etcd.endpoint}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(latest), physical: true }), signal: AbortSignal.timeout(5000) });
  t.equal(res.status, 200, await res.clone().text());
  const started = Date.now();
  const snap = await store.watch('haproxy/compact/', old, { signal: AbortSignal.timeout(20_000), waitMs: 15_000 });
  t.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms, not at the end of the 15 s wait`);
  t.same(snap.pairs.map((p) => p.value), ['v5'], 'the current data');
  t.ok(snap.index >= latest);
});
