import t from 'tap';
import type { Test } from 'tap';
import { createEtcdStore } from '@confd-haproxy/kv';
import { startMemcached } from '@confd-haproxy/testkit';
import { Etcd3 } from 'etcd3';
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
  await store.put('haproxy/memcached/etcdmem', JSON.stringify({ name: 'etcdmem', host: '127.0.0.1', port: 11211, proxyport: 16299 }));
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const dir = t.testdir({ 'conf.d': { 'haproxy.toml': '[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\n' }, out: {} });
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), 'plan', '-backend', 'etcd', '-node', etcd.endpoint, '-confdir', dir, '-state-dir', join(dir, 'state')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2, 'a change is pending');
  t.match(r.stdout, /\+listen etcdmem\n\+    bind 0\.0\.0\.0:16299/);
});

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** `confd-haproxy plan` on a conf.d reading /haproxy/memcached, with extra flags. */
function plan(t: Test, ...flags: string[]) {
  const dir = t.testdir({ 'conf.d': { 'haproxy.toml': '[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\n' }, out: {} });
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  return spawnSync(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), 'plan', '-backend', 'etcd', '-node', etcd.endpoint, '-confdir', dir, '-state-dir', join(dir, 'state'), ...flags], { encoding: 'utf8', timeout: 30_000 });
}

const entry = (name: string, proxyport: number) => JSON.stringify({ name, host: '127.0.0.1', port: 11211, proxyport });

/** Entry slashmem under confd's key ("/haproxy/memcached/slashmem") and baremem under a bare one (haproxy/memcached/baremem), as an etcd user would write them. */
async function writeBothLayouts(t: Test, slashPort: number, barePort: number): Promise<void> {
  const raw = new Etcd3({ hosts: etcd.endpoint });
  t.teardown(() => raw.close());
  await raw.put('/haproxy/memcached/slashmem').value(entry('slashmem', slashPort));
  await raw.put('haproxy/memcached/baremem').value(entry('baremem', barePort));
  t.teardown(() => raw.delete().prefix('/haproxy/memcached/').exec().then(() => raw.delete().key('haproxy/memcached/baremem').exec()));
}

t.test('keys an etcd user wrote with a leading slash render, as confd reads them', async (t) => {
  await writeBothLayouts(t, 16301, 16302);
  const r = plan(t);
  t.equal(r.status, 2, r.stderr);
  t.match(r.stdout, /\+listen slashmem\n\+    bind 0\.0\.0\.0:16301/);
  t.notMatch(r.stdout, /baremem/, 'a key without the slash is not a confd key');
});

t.test('--etcd-layout bare reads keys without the slash, as releases before the confd layout wrote them', async (t) => {
  await writeBothLayouts(t, 16303, 16304);
  const r = plan(t, '--etcd-layout', 'bare');
  t.equal(r.status, 2, r.stderr);
  t.match(r.stdout, /\+listen baremem/);
  t.notMatch(r.stdout, /slashmem/);
});

t.test('the store writes entries and locks under "/", where confd reads them', async (t) => {
  const store = createEtcdStore({ nodes: [etcd.endpoint] });
  const raw = new Etcd3({ hosts: etcd.endpoint });
  t.teardown(async () => {
    await store.close();
    raw.close();
  });
  await store.put('haproxy/layout/k', 'v');
  t.equal(await raw.get('/haproxy/layout/k').string(), 'v');
  t.equal(await raw.get('haproxy/layout/k').string(), null, 'nothing is written without the slash');
  const lock = await store.acquireLock('haproxy/.locks/layout/k', { holder: 'me', ttlMs: 5000, lockDelayMs: 0 });
  t.ok(lock);
  t.equal(lock!.key, 'haproxy/.locks/layout/k', 'the seam still speaks of keys without the slash');
  t.equal(await raw.get('/haproxy/.locks/layout/k').string(), 'me');
  await lock!.release();
  const snap = await store.list('haproxy/layout/');
  t.same(snap.pairs.map((p) => p.key), ['haproxy/layout/k']);
});

t.test('a checker with --prefix writes <prefix>/haproxy/<kind>/<tag> under "/" in etcd', async (t) => {
  const mc = await startMemcached();
  t.teardown(() => mc.stop());
  const raw = new Etcd3({ hosts: etcd.endpoint });
  t.teardown(() => raw.close());
  const lockDir = t.testdir();
  const r = spawnSync(
    process.execPath,
    [join(root, 'packages/cli/bin/checkmemcached.js'), '--server', `127.0.0.1:${mc.port}`, '--tag', 'envmem', '--backend', 'etcd', '--node', etcd.endpoint, '--prefix', '/staging', '--once', '--lock-dir', lockDir],
    { encoding: 'utf8', timeout: 30_000 },
  );
  t.equal(r.status, 0, r.stderr + r.stdout);
  const stored = JSON.parse((await raw.get('/staging/haproxy/memcached/envmem').string()) ?? 'null') as { port?: number } | null;
  t.equal(stored?.port, mc.port);
  t.equal(await raw.get('/haproxy/memcached/envmem').string(), null, 'nothing outside the prefix');
  const rendered = plan(t, '--prefix', '/staging');
  t.match(rendered.stdout, /\+listen envmem/, 'the renderer with the same --prefix sees it');
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

/** One figure from etcd's own metrics, by its exact series. */
async function metric(endpoint: string, series: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`etcd's /metrics has no ${series}:\n${text.slice(0, 2000)}`);
  return Number(line.slice(series.length + 1));
}

/** How many reads (Range requests) etcd has served. */
const ranges = (endpoint: string) => metric(endpoint, 'grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}');
/** How many watch streams etcd has opened, and how many watchers it holds now. */
const watchStreams = (endpoint: string) => metric(endpoint, 'grpc_server_started_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}');
const watchers = (endpoint: string) => metric(endpoint, 'etcd_debugging_mvcc_watcher_total');

t.test('a watch whose wait ends with no change answers from its last read: an idle watcher reads nothing', async (t) => {
  const store = createEtcdStore({ nodes: [etcd.endpoint] });
  t.teardown(() => store.close());
  await store.put('haproxy/idle/k', 'v1');
  const first = await store.list('haproxy/idle/');
  const before = await ranges(etcd.endpoint);
  let snap = first;
  for (let i = 0; i < 3; i++) snap = await store.watch('haproxy/idle/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 300 });
  t.equal((await ranges(etcd.endpoint)) - before, 0, 'three quiet waits, no read of the prefix');
  t.same(snap, first, 'the same answer');
  const changed = store.watch('haproxy/idle/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 5000 });
  await store.put('haproxy/idle/k', 'v2');
  t.same((await changed).pairs.map((p) => p.value), ['v2'], 'a change is read at once');
});

t.test('successive watches of a prefix share one etcd watcher: no stream is re-opened per wait', async (t) => {
  const store = createEtcdStore({ nodes: [etcd.endpoint] });
  await store.put('haproxy/feed/k', 'v1');
  let snap = await store.list('haproxy/feed/');
  const streams = await watchStreams(etcd.endpoint);
  const held = await watchers(etcd.endpoint);
  for (let i = 0; i < 3; i++) snap = await store.watch('haproxy/feed/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 300 });
  for (let i = 2; i <= 3; i++) {
    const changed = store.watch('haproxy/feed/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 5000 });
    await store.put('haproxy/feed/k', `v${i}`);
    snap = await changed;
    t.same(snap.pairs.map((p) => p.value), [`v${i}`], `change ${i} is read`);
  }
  t.equal((await watchStreams(etcd.endpoint)) - streams, 1, 'five waits, one watch stream');
  t.equal((await watchers(etcd.endpoint)) - held, 1, 'one watcher held between waits');
  await store.close();
  const closed = Date.now() + 5000;
  while ((await watchers(etcd.endpoint)) !== held && Date.now() < closed) await new Promise((r) => setTimeout(r, 50));
  t.equal(await watchers(etcd.endpoint), held, 'closing the store cancels it');
});

t.test('a quiet wait on an etcd that hangs or went away is not taken for "nothing changed"', async (t) => {
  const other = await startEtcd();
  t.teardown(() => other.stop());
  const store = createEtcdStore({ nodes: [other.endpoint], timeoutMs: 1000 });
  t.teardown(() => store.close());
  await store.put('haproxy/gone/k', 'v1');
  let snap = await store.list('haproxy/gone/');
  // A watcher etcd confirmed before it hung: it stays connected and silent.
  snap = await store.watch('haproxy/gone/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 300 });
  // Hung: the connection stays open, nothing answers (no new watcher is confirmed, none is disconnected).
  process.kill(other.pid, 'SIGSTOP');
  try {
    await t.rejects(store.watch('haproxy/gone/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 500 }), { code: /^KV_/ }, 'a hung etcd is an outage');
    await t.rejects(store.watch('haproxy/gone/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 500 }), { code: /^KV_/ }, 'and stays one');
  } finally {
    process.kill(other.pid, 'SIGCONT');
  }
  await other.stop();
  await t.rejects(store.watch('haproxy/gone/', snap.index, { signal: AbortSignal.timeout(10_000), waitMs: 500 }), { code: /^KV_/ }, 'a stopped one too');
});
