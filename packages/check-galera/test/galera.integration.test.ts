// checkgalera on a real three-node MariaDB Galera cluster (test support starts it): every rule of
// seed 003 as a scenario. Each starts by waiting for all three nodes Synced and leaves the cluster
// as it found it, waiting for the resync its change caused.
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

// The shipped default: a loaded machine's healthy node answers well within it; a hung one never does.
const CHECK_TIMEOUT_MS = 4000;
const SYNC_WAIT_MS = 60_000;

/** Wait (bounded) until all three nodes are Synced in one Primary component: every scenario's start. */
const allSynced = () => cluster.waitSynced(undefined, SYNC_WAIT_MS);

/** SET GLOBAL `on` on node i; at teardown `off`, then wait for the resync it causes. */
async function setUntilTeardown(t: Test, i: number, on: string, off: string): Promise<void> {
  t.teardown(async () => {
    await node(i).query(`SET GLOBAL ${off}`);
    await allSynced();
  });
  await node(i).query(`SET GLOBAL ${on}`);
}

/** A checker over its own file store, with the nodes weighted 1000, 999, 998 and `extra` settings, on a Synced cluster. */
async function checker(t: Test, extra = '', nodeExtra: string[] = []): Promise<Setup> {
  await allSynced();
  const text = [
    '[cluster.main]',
    `user = "${MONITOR.user}"`,
    `password = "${MONITOR.password}"`,
    `checkTimeOut = ${CHECK_TIMEOUT_MS}`,
    extra,
    ...cluster.nodes.map((n, i) => `[[cluster.main.node]]\nhost = "127.0.0.1"\nport = ${n.port}\nwriterWeight = ${1000 - i}\n${nodeExtra[i] ?? ''}`),
  ].join('\n');
  const cfg = parseGaleraConfig('galera.toml', text).clusters[0]!;
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const lines: string[] = [];
  const logger: CheckerLogger = { debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) };
  const prefix = maintenancePrefix('main');
  const kind = galeraKind({ cluster: cfg, logger, maintenance: async (s) => new Set((await store.list(prefix, { signal: s })).pairs.map((p) => p.key.slice(prefix.length))) });
  const c = new TagChecker({ tag: 'main', kind, store, logger, checker: 'test:1', timeoutMs: cfg.checkTimeOut, retryUp: cfg.retryUp + 1, retryDown: cfg.retryDown + 1, lockTtlMs: 30_000 });
  t.teardown(async () => {
    await c.close();
    await store.close();
  });
  return { c, kind, store, lines };
}

const writer = (r: PassReport) => r.entry?.port;
const readerRoles = (r: PassReport) => Object.fromEntries(((r.entry?.readers ?? []) as { port: number; role: string }[]).map((x) => [cluster.nodes.findIndex((n) => n.port === x.port), x.role]));

/** Passes until cond holds (bounded in time and count); the last report. */
async function until(c: TagChecker<GaleraNodeConfig>, cond: (r: PassReport) => boolean, waitMs = 30_000): Promise<PassReport> {
  const deadline = Date.now() + waitMs;
  let r = await c.pass(signal);
  for (let i = 0; i < 400 && !cond(r) && Date.now() < deadline; i++) {
    await new Promise((done) => setTimeout(done, 250));
    r = await c.pass(signal);
  }
  return r;
}

t.test('a healthy cluster: the heaviest node writes, all three read, and the entry has both ports', async (t) => {
  const { c } = await checker(t);
  const r = await c.pass(signal);
  t.equal(r.wrote, true);
  t.match(r.entry, { name: 'main', host: '127.0.0.1', port: node(0).port, proxyport: 13306, readerport: 13307, drained: [], maintenance: [], down: [] });
  t.same(r.entry!.servers, [{ host: '127.0.0.1', port: node(0).port, weight: 100, role: 'active' }], 'one writer');
  t.same(readerRoles(r), { 0: 'active', 1: 'active', 2: 'active' });
  t.equal((await c.pass(signal)).wrote, false, 'a steady cluster writes nothing');
});

t.test('SET GLOBAL wsrep_desync=ON drains a reader; OFF brings it back', async (t) => {
  const { c } = await checker(t);
  await setUntilTeardown(t, 1, 'wsrep_desync=ON', 'wsrep_desync=OFF');
  const r = await c.pass(signal);
  t.same(readerRoles(r), { 0: 'active', 1: 'drain', 2: 'active' });
  t.same(r.entry?.drained, [`127.0.0.1:${node(1).port}`]);
  await node(1).query('SET GLOBAL wsrep_desync=OFF');
  const back = await until(c, (x) => readerRoles(x)[1] === 'active');
  t.same(readerRoles(back), { 0: 'active', 1: 'active', 2: 'active' });
});

t.test('a desynced node that is the last of the main segment keeps serving', async (t) => {
  // Nodes 1 and 2 are declared in segment 1 (the DR site); node 0 is alone in main segment 0.
  const { c, lines } = await checker(t, '', ['', 'segment = 1', 'segment = 1']);
  await setUntilTeardown(t, 0, 'wsrep_desync=ON', 'wsrep_desync=OFF');
  const r = await c.pass(signal);
  t.equal(writer(r), node(0).port, 'still the writer');
  t.same(readerRoles(r), { 0: 'active', 1: 'backup', 2: 'backup' });
  t.same(r.entry?.drained, []);
  t.ok(lines.some((l) => l.includes('the last node of main segment 0: it keeps serving')));
});

t.test('wsrep_reject_queries=ALL on the writer moves the writer and takes the node out', async (t) => {
  const { c } = await checker(t);
  t.equal(writer(await c.pass(signal)), node(0).port);
  await setUntilTeardown(t, 0, 'wsrep_reject_queries=ALL', 'wsrep_reject_queries=NONE');
  const r = await c.pass(signal);
  t.equal(writer(r), node(1).port, 'the next by weight writes');
  t.same(readerRoles(r), { 0: 'maint', 1: 'active', 2: 'active' });
  t.match(r.results.find((x) => x.target.port === node(0).port)?.result, { ok: false, reason: 'wsrep_reject_queries is ALL' });
  await node(0).query('SET GLOBAL wsrep_reject_queries=NONE');
  t.equal(writer(await c.pass(signal)), node(1).port, 'no fail-back without failBack');
});

t.test('read_only on the writer: it keeps reading but no longer writes', async (t) => {
  const { c } = await checker(t);
  await c.pass(signal);
  await setUntilTeardown(t, 0, 'read_only=1', 'read_only=0');
  // read_only makes Galera desync and resync the node for a moment; wait for it to settle.
  const r = await until(c, (x) => writer(x) === node(1).port && readerRoles(x)[0] === 'active');
  t.equal(writer(r), node(1).port);
  t.same(readerRoles(r), { 0: 'active', 1: 'active', 2: 'active' });
});

t.test('a node in maintenance (a key in the store) is disabled everywhere and leaves the writer role', async (t) => {
  const { c, store } = await checker(t);
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
  const { c } = await checker(t);
  await c.pass(signal);
  node(2).kill('SIGSTOP');
  t.teardown(async () => {
    node(2).kill('SIGCONT');
    await allSynced();
  });
  const started = Date.now();
  const r = await c.pass(signal);
  t.comment(`the pass took ${Date.now() - started} ms`);
  // The node never answers, so the pass ended by the deadline; the reason names which one.
  t.match(r.results.find((x) => x.target.port === node(2).port)?.result, { ok: false, reason: new RegExp(`no answer within ${CHECK_TIMEOUT_MS} ms|timed out`) });
  t.same(readerRoles(r), { 0: 'active', 1: 'active', 2: 'maint' });
  t.same(r.entry?.down, [`127.0.0.1:${node(2).port}`]);
});

t.test('retryDown and retryUp: a writer is kept through retryDown failures and serves again after retryUp good checks', async (t) => {
  const { c } = await checker(t, 'retryDown = 1\nretryUp = 1');
  await c.pass(signal);
  await setUntilTeardown(t, 0, 'wsrep_reject_queries=ALL', 'wsrep_reject_queries=NONE');
  t.equal(writer(await c.pass(signal)), node(0).port, 'first failure: kept (retryDown = 1)');
  t.equal(writer(await c.pass(signal)), node(1).port, 'second failure: moved');
  await node(0).query('SET GLOBAL wsrep_reject_queries=NONE');
  t.equal(readerRoles(await c.pass(signal))[0], 'maint', 'first good check: not yet (retryUp = 1)');
  t.equal(readerRoles(await c.pass(signal))[0], 'active', 'second good check: reads again');
});

t.test('the writer SIGKILLed: the next by weight writes; back again it writes only with failBack', async (t) => {
  const plain = await checker(t);
  const failBack = await checker(t, 'failBack = true');
  for (const s of [plain, failBack]) t.equal(writer(await s.c.pass(signal)), node(0).port);
  const killed = node(0);
  killed.kill('SIGKILL');
  for (const s of [plain, failBack]) {
    const r = await s.c.pass(signal);
    t.equal(writer(r), node(1).port, 'the next by weight');
    t.same(r.entry?.down, [`127.0.0.1:${killed.port}`]);
  }
  // Rejoin only once the other two have evicted it and form a Primary component of two.
  await cluster.waitSynced([node(1), node(2)], SYNC_WAIT_MS);
  await cluster.restart(killed);
  await allSynced();
  const back = await until(plain.c, (r) => readerRoles(r)[0] === 'active');
  t.equal(writer(back), node(1).port, 'failBack off: the writer stays on node 1');
  t.equal(writer(await until(failBack.c, (r) => writer(r) === node(0).port)), node(0).port, 'failBack on: node 0 writes again');
});
