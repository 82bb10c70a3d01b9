import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, type CheckerLogger } from '@confd-haproxy/checker';
import { mysqlKind, tagConfig } from '@confd-haproxy/check-mysql';
import { startReplicationSet, MONITOR, type MariaDBHandle } from '@confd-haproxy/testkit';

const set = await startReplicationSet({ replicas: 2 });
t.teardown(() => set.stop());
const { primary } = set;
const [r1, r2] = set.replicas as [MariaDBHandle, MariaDBHandle];
const signal = new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function checker(t: Test, opts: { retryUp?: number; maxLag?: number; masterFallback?: boolean; lines?: string[]; replicas?: string } = {}) {
  const lines = opts.lines ?? [];
  const logger: CheckerLogger = { debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  const config = tagConfig('db.conf', { slave: { host: '127.0.0.1', port: String(primary.port), user: MONITOR.user, password: MONITOR.password, ...(opts.replicas ? { replicas: opts.replicas } : {}) } }, 'slave');
  const kind = mysqlKind({ config, maxLag: opts.maxLag ?? 30, timeoutMs: 500, masterFallback: opts.masterFallback ?? true, logger });
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  t.teardown(async () => {
    await kind.close();
    await store.close();
  });
  return new TagChecker({ tag: 'slave', kind, store, logger, checker: 'test:1', timeoutMs: 500, retryUp: opts.retryUp ?? 1, retryDown: 1, lockTtlMs: 5000 });
}
const at = (h: MariaDBHandle) => ({ host: '127.0.0.1', port: h.port });
const admin = (h: MariaDBHandle, sql: string) => h.query(sql);

t.test('replicas are discovered with SHOW SLAVE HOSTS and all healthy ones are in servers', async (t) => {
  const r = await checker(t).pass(signal);
  t.equal(r.wrote, true);
  t.same(r.results.map((x) => x.target.port).sort(), [r1.port, r2.port].sort());
  t.match(r.entry, { name: 'slave', host: '127.0.0.1', proxyport: primary.port + 10050, version: 1 });
  t.ok([r1.port, r2.port].includes(r.entry!.port), 'points at a replica, not the master');
  t.same(r.entry!.servers.map((s) => s.port).sort(), [r1.port, r2.port].sort());
});

t.test('a replica whose SQL thread stopped is not served', async (t) => {
  const c = checker(t, { replicas: `127.0.0.1:${r1.port},127.0.0.1:${r2.port}` });
  t.equal((await c.pass(signal)).entry?.port, r1.port);
  await admin(r1, 'STOP SLAVE SQL_THREAD');
  t.teardown(() => admin(r1, 'START SLAVE SQL_THREAD'));
  const r = await c.pass(signal);
  t.equal(r.entry?.port, r2.port, 'moved to the other replica');
  t.match(r.results.find((x) => x.target.port === r1.port)?.result, { ok: false, reason: /SQL thread not running/ });
  t.same(r.entry!.servers.map((s) => s.port), [r2.port]);
});

t.test('a replica lagging beyond max-lag is not served', async (t) => {
  const c = checker(t, { maxLag: 1, replicas: `127.0.0.1:${r2.port},127.0.0.1:${r1.port}` });
  t.equal((await c.pass(signal)).entry?.port, r2.port);
  await admin(r2, 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=60; START SLAVE').catch(async () => {
    await admin(r2, 'STOP SLAVE');
    await admin(r2, 'CHANGE MASTER TO MASTER_DELAY=60');
    await admin(r2, 'START SLAVE');
  });
  t.teardown(async () => {
    await admin(r2, 'STOP SLAVE');
    await admin(r2, 'CHANGE MASTER TO MASTER_DELAY=0');
    await admin(r2, 'START SLAVE');
  });
  let r;
  for (let i = 0; i < 40; i++) {
    await primary.query(`CREATE TABLE IF NOT EXISTS checktest.lag (id INT PRIMARY KEY AUTO_INCREMENT)`);
    await primary.query('INSERT INTO checktest.lag VALUES ()');
    r = await c.pass(signal);
    if (r.entry?.port === r1.port) break;
    await sleep(250);
  }
  t.equal(r?.entry?.port, r1.port, 'moved away from the lagging replica');
  t.match(r?.results.find((x) => x.target.port === r2.port)?.result, { ok: false, reason: /lag \d+ s above 1 s/ });
});

t.test('a hung replica fails within the timeout and does not stall the loop', async (t) => {
  const c = checker(t, { replicas: `127.0.0.1:${r1.port},127.0.0.1:${r2.port}` });
  t.equal((await c.pass(signal)).entry?.port, r1.port);
  r1.kill('SIGSTOP');
  t.teardown(() => r1.kill('SIGCONT'));
  const started = Date.now();
  const r = await c.pass(signal);
  t.ok(Date.now() - started < 2500, `the pass took ${Date.now() - started} ms`);
  t.equal(r.entry?.port, r2.port);
  t.match(r.results.find((x) => x.target.port === r1.port)?.result, { ok: false, reason: /timed out|500 ms/ });
  r1.kill('SIGCONT');
});

t.test('a recovered replica is eligible only after retry-up successes', async (t) => {
  const c = checker(t, { retryUp: 3, replicas: `127.0.0.1:${r1.port},127.0.0.1:${r2.port}` });
  await c.pass(signal);
  await admin(r1, 'STOP SLAVE SQL_THREAD');
  await c.pass(signal);
  await admin(r1, 'START SLAVE SQL_THREAD');
  await sleep(200);
  const eligible = async () => (await c.pass(signal)).eligible.some((x) => x.port === r1.port);
  t.equal(await eligible(), false, 'not after 1 success');
  t.equal(await eligible(), false, 'not after 2');
  t.equal(await eligible(), true, 'eligible after 3');
});

t.test('with every replica down the entry points at the master, and stays without rewrites', async (t) => {
  const c = checker(t, { replicas: `127.0.0.1:${r1.port},127.0.0.1:${r2.port}` });
  await c.pass(signal);
  await Promise.all([admin(r1, 'STOP SLAVE SQL_THREAD'), admin(r2, 'STOP SLAVE SQL_THREAD')]);
  t.teardown(() => Promise.all([admin(r1, 'START SLAVE SQL_THREAD'), admin(r2, 'START SLAVE SQL_THREAD')]));
  const r = await c.pass(signal);
  t.match(r.entry, { host: '127.0.0.1', port: primary.port }, 'the master');
  t.equal(r.wrote, true);
  t.equal((await c.pass(signal)).wrote, false, 'no rewrite on the next pass');
  t.equal((await c.pass(signal)).wrote, false, 'nor the one after');
});

t.test('without master fallback the last entry is kept', async (t) => {
  const c = checker(t, { masterFallback: false, replicas: `127.0.0.1:${r1.port}` });
  let first = await c.pass(signal);
  // The previous case restarted r1's SQL thread: wait until it serves again.
  for (let i = 0; i < 40 && first.entry?.port !== r1.port; i++) {
    await sleep(100);
    first = await c.pass(signal);
  }
  t.equal(first.entry?.port, r1.port);
  await admin(r1, 'STOP SLAVE SQL_THREAD');
  t.teardown(() => admin(r1, 'START SLAVE SQL_THREAD'));
  const r = await c.pass(signal);
  t.equal(r.wrote, false);
  t.same(r.entry, first.entry);
});

t.test('a killed replica is replaced by the other', async (t) => {
  const c = checker(t, { replicas: `127.0.0.1:${r2.port},127.0.0.1:${r1.port}` });
  t.equal((await c.pass(signal)).entry?.port, r2.port);
  r2.kill('SIGKILL');
  const r = await c.pass(signal);
  t.equal(r.entry?.port, r1.port);
});
