// checkgalera on a real three-node MariaDB Galera cluster (test support starts it): every rule of
// seed 003 as a scenario, each leaving the cluster as it found it.
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { TagChecker, type CheckerLogger, type PassReport } from '@confd-haproxy/checker';
import { galeraKind, maintenancePrefix, parseGaleraConfig, type GaleraKind, type GaleraNodeConfig } from '@confd-haproxy/check-galera';
import { createFileStore, type KVStore } from '@confd-haproxy/kv';
import { startGaleraCluster, MONITOR, type GaleraNode } from '@confd-haproxy/testkit';

const cluster = await startGaleraCluster({ nodes: 3 });
t.teardown(() => cluster.stop());
const signal = new AbortController().signal;
const node = (i: number) => cluster.nodes[i]!;

interface Setup {
  c: TagChecker<GaleraNodeConfig>;
  kind: GaleraKind;
  store: KVStore;
  lines: string[];
}

/** A checker over its own file store, with the nodes weighted 1000, 999, 998 and `extra` settings. */
function checker(t: Test, extra = '', nodeExtra: string[] = []): Setup {
  const text = [
    '[cluster.main]',
    `user = "${MONITOR.user}"`,
    `password = "${MONITOR.password}"`,
    'checkTimeOut = 600',
    extra,
    ...cluster.nodes.map((n, i) => `[[cluster.main.node]]\nhost = "127.0.0.1"\nport = ${n.port}\nwriterWeight = ${1000 - i}\n${nodeExtra[i] ?? ''}`),
  ].join('\n');
  const cfg = parseGaleraConfig('galera.toml', text).clusters[0]!;
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const lines: string[] = [];
  const logger: CheckerLogger = { debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) };
  const prefix = maintenancePrefix('main');
  const kind = galeraKind({ cluster: cfg, logger, maintenance: async (s) => new Set((await store.list(prefix, { signal: s })).pairs.map((p) => p.key.slice(prefix.length))) });
  const c = new TagChecker({ tag: 'main', kind, store, logger, checker: 'test:1', timeoutMs: cfg.checkTimeOut, retryUp: cfg.retryUp + 1, retryDown: cfg.retryDown + 1, lockTtlMs: 5000 });
  t.teardown(async () => {
    await c.close();
    await store.close();
  });
  return { c, kind, store, lines };
}

const writer = (r: PassReport) => r.entry?.port;
const readerRoles = (r: PassReport) => Object.fromEntries(((r.entry?.readers ?? []) as { port: number; role: string }[]).map((x) => [cluster.nodes.findIndex((n) => n.port === x.port), x.role]));

/** Passes until cond holds (bounded); the last report. */
async function until(c: TagChecker<GaleraNodeConfig>, cond: (r: PassReport) => boolean, max = 40): Promise<PassReport> {
  let r = await c.pass(signal);
  for (let i = 0; i < max && !cond(r); i++) {
    await new Promise((done) => setTimeout(done, 250));
    r = await c.pass(signal);
  }
  return r;
}

t.test('a healthy cluster: the heaviest node writes, all three read, and the entry has both ports', async (t) => {
  const { c } = checker(t);
  const r = await c.pass(signal);
  t.equal(r.wrote, true);
  t.match(r.entry, { name: 'main', host: '127.0.0.1', port: node(0).port, proxyport: 13306, readerport: 13307, drained: [], maintenance: [], down: [] });
  t.same(r.entry!.servers, [{ host: '127.0.0.1', port: node(0).port, weight: 100, role: 'active' }], 'one writer');
  t.same(readerRoles(r), { 0: 'active', 1: 'active', 2: 'active' });
  t.equal((await c.pass(signal)).wrote, false, 'a steady cluster writes nothing');
});

t.test('SET GLOBAL wsrep_desync=ON drains a reader; OFF brings it back', async (t) => {
  const { c } = checker(t);
  await node(1).query('SET GLOBAL wsrep_desync=ON');
  t.teardown(() => node(1).query('SET GLOBAL wsrep_desync=OFF'));
  const r = await c.pass(signal);
  t.same(readerRoles(r), { 0: 'active', 1: 'drain', 2: 'active' });
  t.same(r.entry?.drained, [`127.0.0.1:${node(1).port}`]);
  await node(1).query('SET GLOBAL wsrep_desync=OFF');
  const back = await until(c, (x) => readerRoles(x)[1] === 'active');
  t.same(readerRoles(back), { 0: 'active', 1: 'active', 2: 'active' });
});

t.test('a desynced node that is the last of the main segment keeps serving', async (t) => {
  // Nodes 1 and 2 are declared in segment 1 (the DR site); node 0 is alone in main segment 0.
  const { c, lines } = checker(t, '', ['', 'segment = 1', 'segment = 1']);
  await node(0).query('SET GLOBAL wsrep_desync=ON');
  t.teardown(() => node(0).query('SET GLOBAL wsrep_desync=OFF'));
  const r = await c.pass(signal);
  t.equal(writer(r), node(0).port, 'still the writer');
  t.same(readerRoles(r), { 0: 'active', 1: 'backup', 2: 'backup' });
  t.same(r.entry?.drained, []);
  t.ok(lines.some((l) => l.includes('the last node of main segment 0: it keeps serving')));
});

t.test('wsrep_reject_queries=ALL on the writer moves the writer and takes the node out', async (t) => {
  const { c } = checker(t);
  t.equal(writer(await c.pass(signal)), node(0).port);
  await node(0).query('SET GLOBAL wsrep_reject_queries=ALL');
  t.teardown(() => node(0).query('SET GLOBAL wsrep_reject_queries=NONE'));
  const r = await c.pass(signal);
  t.equal(writer(r), node(1).port, 'the next by weight writes');
  t.same(readerRoles(r), { 0: 'maint', 1: 'active', 2: 'active' });
  t.match(r.results.find((x) => x.target.port === node(0).port)?.result, { ok: false, reason: 'wsrep_reject_queries is ALL' });
  await node(0).query('SET GLOBAL wsrep_reject_queries=NONE');
  t.equal(writer(await c.pass(signal)), node(1).port, 'no fail-back without failBack');
});

t.test('read_only on the writer: it keeps reading but no longer writes', async (t) => {
  const { c } = checker(t);
  await c.pass(signal);
  await node(0).query('SET GLOBAL read_only=1');
  t.teardown(() => node(0).query('SET GLOBAL read_only=0'));
  // read_only makes Galera desync and resync the node for a moment; wait for it to settle.
  const r = await until(c, (x) => writer(x) === node(1).port && readerRoles(x)[0] === 'active');
  t.equal(writer(r), node(1).port);
  t.same(readerRoles(r), { 0: 'active', 1: 'active', 2: 'active' });
});

t.test('a node in maintenance (a key in the store) is disabled everywhere and leaves the writer role', async (t) => {
  const { c, store } = checker(t);
  await c.pass(signal);
  await store.put(`${maintenancePrefix('main')}127.0.0.1:${node(0).port}`, '{"reason":"kernel upgrade"}');
  const r = await c.pass(signal);
  t.equal(writer(r), node(1).port);
  t.same(readerRoles(r), { 0: 'maint', 1: 'active', 2: 'active' });
  t.same(r.entry?.maintenance, [`127.0.0.1:${node(0).port}`]);
  await store.delete(`${maintenancePrefix('main')}127.0.0.1:${node(0).port}`);
  t.same(readerRoles(await c.pass(signal)), { 0: 'active', 1: 'active', 2: 'active' }, 'out of maintenance it reads again');
});

t.test('a hung node (SIGSTOP) fails at checkTimeOut and is taken out', async (t) => {
  const { c } = checker(t);
  await c.pass(signal);
  node(2).kill('SIGSTOP');
  t.teardown(async () => {
    node(2).kill('SIGCONT');
    await cluster.waitSynced(undefined, 60_000);
  });
  const started = Date.now();
  const r = await c.pass(signal);
  t.ok(Date.now() - started < 3000, `the pass ends near the 600 ms deadline (${Date.now() - started} ms)`);
  t.match(r.results.find((x) => x.target.port === node(2).port)?.result, { ok: false, reason: /no answer within 600 ms|timed out/ });
  t.same(readerRoles(r), { 0: 'active', 1: 'active', 2: 'maint' });
  t.same(r.entry?.down, [`127.0.0.1:${node(2).port}`]);
});

t.test('retryDown and retryUp: a writer is kept through retryDown failures and serves again after retryUp good checks', async (t) => {
  const { c } = checker(t, 'retryDown = 1\nretryUp = 1');
  await c.pass(signal);
  await node(0).query('SET GLOBAL wsrep_reject_queries=ALL');
  t.teardown(() => node(0).query('SET GLOBAL wsrep_reject_queries=NONE'));
  t.equal(writer(await c.pass(signal)), node(0).port, 'first failure: kept (retryDown = 1)');
  t.equal(writer(await c.pass(signal)), node(1).port, 'second failure: moved');
  await node(0).query('SET GLOBAL wsrep_reject_queries=NONE');
  t.equal(readerRoles(await c.pass(signal))[0], 'maint', 'first good check: not yet (retryUp = 1)');
  t.equal(readerRoles(await c.pass(signal))[0], 'active', 'second good check: reads again');
});

t.test('the writer SIGKILLed: the next by weight writes; back again it writes only with failBack', async (t) => {
  const plain = checker(t);
  const failBack = checker(t, 'failBack = true');
  for (const s of [plain, failBack]) t.equal(writer(await s.c.pass(signal)), node(0).port);
  const killed = node(0);
  killed.kill('SIGKILL');
  for (const s of [plain, failBack]) {
    const r = await s.c.pass(signal);
    t.equal(writer(r), node(1).port, 'the next by weight');
    t.same(r.entry?.down, [`127.0.0.1:${killed.port}`]);
  }
  await cluster.restart(killed);
  await cluster.waitSynced(undefined, 60_000);
  const back = await until(plain.c, (r) => readerRoles(r)[0] === 'active');
  t.equal(writer(back), node(1).port, 'failBack off: the writer stays on node 1');
  t.equal(writer(await until(failBack.c, (r) => writer(r) === node(0).port)), node(0).port, 'failBack on: node 0 writes again');
});
