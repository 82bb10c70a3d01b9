// Entries own their key, on real processes: HAProxy (master-worker, reloaded through its master
// CLI) rendered from the shipped templates, two memcached. A store writer that owns one tag's key
// points it at another tag's proxyport; no client of that port may reach the intruder's server.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { runOnce, type RendererOptions } from '@confd-haproxy/renderer';
import { freePort, memcachedPidBehind, quiet, startMemcached, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';

const CLIENTS = 40;
const entry = (name: string, server: { host: string; port: number }, proxyport: number) =>
  JSON.stringify({ name, host: server.host, port: server.port, proxyport, servers: [{ ...server, weight: 100, role: 'active' }], version: 1 });

t.test("a tag that sets another tag's proxyport gets none of its clients", async (t) => {
  const [victim, intruder] = [await startMemcached(), await startMemcached()];
  t.teardown(() => Promise.all([victim.stop(), intruder.stop()]));
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'] });
  t.teardown(() => stack.stop());
  const dir = tempDir('e2e-ownership');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const opts: RendererOptions = { store, confdir: stack.dir, stateDir: join(dir, 'state'), logger: quiet, signal: new AbortController().signal, env: stack.env };
  const [port, own] = [await freePort(), await freePort()];

  await store.put('haproxy/memcached/sessions', entry('sessions', victim, port));
  await store.put('haproxy/memcached/mem11211', entry('mem11211', intruder, own));
  const first = await runOnce(opts);
  t.ok(first.ok && first.reloads.every((r) => r.ok), 'the honest render is checked and HAProxy reloaded');
  t.equal(await memcachedPidBehind(port, 3000), victim.pid, 'clients of the port reach the victim');

  await store.put('haproxy/memcached/mem11211', entry('mem11211', intruder, port));
  const attacked = await runOnce(opts);
  t.match(attacked.badEntries, [{ key: '/haproxy/memcached/mem11211', message: /proxyport \d+ is already served by \/haproxy\/memcached\/sessions/ }]);
  t.notOk(attacked.resources.some((r) => r.error), 'the render is not failed by it');
  const behind: (number | undefined)[] = [];
  for (let i = 0; i < CLIENTS; i++) behind.push(await memcachedPidBehind(port, 3000));
  const stolen = behind.filter((pid) => pid === intruder.pid).length;
  t.equal(stolen, 0, `none of ${CLIENTS} clients reach the intruder (${stolen} did)`);
  t.equal(behind.filter((pid) => pid === victim.pid).length, CLIENTS, `all ${CLIENTS} reach the victim`);
  t.equal(await memcachedPidBehind(own, 3000), intruder.pid, 'the intruder keeps its own last good port');
});
