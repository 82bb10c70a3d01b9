import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createFileStore, type KVStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type CheckerKind, type PassReport } from '@confd-haproxy/checker';
import { collect, pingKind, quiet, sleep, startPingService, storeWith, within, type PingService } from './helpers.js';

const signal = new AbortController().signal;

async function services(t: Test, ...modes: PingService['mode'][]): Promise<PingService[]> {
  const all = await Promise.all(modes.map((m) => startPingService(m)));
  t.teardown(() => Promise.all(all.map((s) => s.close())));
  return all;
}

function fileStore(t: Test, file = join(t.testdir({}), 'kv.json')): KVStore {
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  return store;
}

function checker(t: Test, kind: CheckerKind, store: KVStore, o: { retryUp?: number; retryDown?: number; timeoutMs?: number; lines?: string[]; name?: string } = {}) {
  const c = new TagChecker({
    tag: 'p1',
    kind,
    store,
    logger: o.lines ? collect(o.lines) : quiet,
    checker: o.name ?? 'test:1',
    timeoutMs: o.timeoutMs ?? 300,
    retryUp: o.retryUp ?? 1,
    retryDown: o.retryDown ?? 1,
    lockTtlMs: 3000,
  });
  t.teardown(() => c.close());
  return c;
}

const ports = (ts: { port: number }[]) => ts.map((x) => x.port);

t.test('the first pass writes entry v1 and reports what it saw as data', async (t) => {
  const [a, b] = await services(t, 'ok', 'fail');
  const store = fileStore(t);
  const r = await checker(t, pingKind({ targets: [a!, b!] }), store).pass(signal);
  t.equal(r.wrote, true);
  t.equal(r.reason, 'changed');
  t.same(ports(r.healthy), [a!.port]);
  t.same(ports(r.eligible), [a!.port]);
  t.same(r.chosen, { host: '127.0.0.1', port: a!.port });
  t.match(r.results[1]?.result, { ok: false, reason: 'answered fail' });
  const stored = JSON.parse((await store.get('haproxy/ping/p1'))!.value) as Record<string, unknown>;
  t.match(stored, { name: 'p1', host: '127.0.0.1', port: a!.port, proxyport: 20000, version: 1, checker: 'test:1' });
  t.ok(!Number.isNaN(Date.parse(String(stored.updated))), 'updated is an ISO date');
});

t.test('a steady state writes nothing', async (t) => {
  const [a, b] = await services(t, 'ok', 'ok');
  const store = fileStore(t);
  const c = checker(t, pingKind({ targets: [a!, b!] }), store);
  await c.pass(signal);
  const index = (await store.get('haproxy/ping/p1'))!.modifyIndex;
  for (let i = 0; i < 5; i++) t.equal((await c.pass(signal)).wrote, false, `pass ${i + 2} wrote nothing`);
  t.equal((await store.get('haproxy/ping/p1'))!.modifyIndex, index, 'the key was not rewritten');
});

t.test('hung targets fail at the timeout, in parallel, and their sockets are destroyed', async (t) => {
  const [h1, h2, h3, ok] = await services(t, 'hang', 'hang', 'hang', 'ok');
  const c = checker(t, pingKind({ targets: [h1!, h2!, h3!, ok!] }), fileStore(t), { timeoutMs: 300 });
  const started = Date.now();
  const r = await c.pass(signal);
  const took = Date.now() - started;
  // Measured against the same run's probes: one after another, the pass would last their sum.
  const sequential = r.results.slice(0, 3).reduce((sum, x) => sum + x.result.ms, 0);
  t.ok(took < sequential, `three hung targets cost one timeout, not three (${took} ms, the three took ${sequential} ms)`);
  t.equal(r.entry?.port, ok!.port);
  for (const x of r.results.slice(0, 3)) t.match(x.result, { ok: false, reason: /timed out|no answer within 300 ms/ });
  t.ok((await within(5000, () => h1!.open + h2!.open + h3!.open === 0)) >= 0, 'the probe let go of every hung connection');
});

t.test('a probe that ignores its signal still fails at the deadline', async (t) => {
  const [a, b] = await services(t, 'ok', 'ok');
  const kind = pingKind({ targets: [a!, b!], probe: (x) => (x.port === a!.port ? new Promise(() => {}) : Promise.resolve({ ok: true })) });
  const r = await checker(t, kind, fileStore(t), { timeoutMs: 200 }).pass(signal);
  // The probe never settles: the pass ended only because the deadline fired, which the reason names.
  t.match(r.results[0]?.result, { ok: false, reason: 'no answer within 200 ms' });
  t.equal(r.entry?.port, b!.port);
});

t.test('retry-down: the active target is left only after N failures in a row', async (t) => {
  const [a, b] = await services(t, 'ok', 'ok');
  const c = checker(t, pingKind({ targets: [a!, b!] }), fileStore(t), { retryDown: 3 });
  t.equal((await c.pass(signal)).entry?.port, a!.port);
  a!.mode = 'fail';
  t.equal((await c.pass(signal)).entry?.port, a!.port, 'kept after 1 failure');
  a!.mode = 'ok';
  t.equal((await c.pass(signal)).entry?.port, a!.port, 'a success resets the count');
  a!.mode = 'fail';
  t.equal((await c.pass(signal)).entry?.port, a!.port, '1');
  t.equal((await c.pass(signal)).entry?.port, a!.port, '2');
  const r = await c.pass(signal);
  t.equal(r.entry?.port, b!.port, 'moved after the 3rd failure in a row');
  t.equal(r.wrote, true);
});

t.test('retry-up: a recovered target is eligible only after M successes in a row', async (t) => {
  const [a, b] = await services(t, 'ok', 'ok');
  const c = checker(t, pingKind({ targets: [a!, b!], sticky: false }), fileStore(t), { retryUp: 3 });
  await c.pass(signal);
  a!.mode = 'fail';
  t.equal((await c.pass(signal)).entry?.port, b!.port);
  a!.mode = 'ok';
  const steps: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await c.pass(signal);
    steps.push(ports(r.eligible).includes(a!.port));
    if (i < 2) t.equal(r.entry?.port, b!.port, `still on b after ${i + 1} success(es)`);
  }
  t.same(steps, [false, false, true, true]);
  a!.mode = 'fail';
  await c.pass(signal);
  a!.mode = 'ok';
  t.notOk(ports((await c.pass(signal)).eligible).includes(a!.port), 'one failure starts the count again');
});

t.test('with nothing eligible the kind may keep the entry; nothing is written', async (t) => {
  const [a] = await services(t, 'ok');
  const store = fileStore(t);
  const c = checker(t, pingKind({ targets: [a!] }), store);
  const before = (await c.pass(signal)).entry;
  a!.mode = 'hang';
  const r = await c.pass(signal);
  t.equal(r.wrote, false);
  t.match(r.reason, /^no healthy server \(127\.0\.0\.1:\d+ no answer within \d+ ms\); entry kept$/, 'the reason names each server and why it failed');
  t.same(r.entry, before);
});

t.test('a bad entry is never written over a good one', async (t) => {
  const [a, b] = await services(t, 'ok', 'ok');
  const store = fileStore(t);
  let bad = false;
  const kind = pingKind({ targets: [a!, b!], sticky: false, mangle: (e) => (bad ? { ...e, host: 'not a host!' } : e) });
  const lines: string[] = [];
  const c = checker(t, kind, store, { lines });
  await c.pass(signal);
  const good = (await store.get('haproxy/ping/p1'))!;
  bad = true;
  a!.mode = 'fail';
  const r = await c.pass(signal);
  t.equal(r.wrote, false);
  t.match(r.reason, /^bad entry: host "not a host!"/);
  t.equal((await store.get('haproxy/ping/p1'))!.value, good.value, 'the good entry stays');
  t.ok(lines.some((l) => /refusing to write a bad entry to haproxy\/ping\/p1/.test(l)), 'and the refusal is logged');
});

t.test('a lost CAS reads the key again and decides again', async (t) => {
  const [a, b] = await services(t, 'ok', 'ok');
  const real = fileStore(t);
  const rival = fileStore(t);
  let puts = 0;
  let race: (() => Promise<unknown>) | undefined;
  // The real store, with another writer slipping in between this checker's read and its write.
  const store = storeWith(real, {
    async put(key, value, opts) {
      puts++;
      const r = race;
      race = undefined;
      await r?.();
      return real.put(key, value, opts);
    },
  });
  const c = checker(t, pingKind({ targets: [a!, b!] }), store);
  // Someone else writes b as active first: sticky choice keeps it once it is read again.
  race = () => rival.put('haproxy/ping/p1', JSON.stringify({ name: 'p1', host: '127.0.0.1', port: b!.port, proxyport: 20000, servers: [{ host: '127.0.0.1', port: b!.port, weight: 100, role: 'active' }, { host: '127.0.0.1', port: a!.port, weight: 100, role: 'backup' }], version: 1, checker: 'rival:2', updated: new Date().toISOString() }));
  const r = await c.pass(signal);
  t.equal(puts, 1, 'the first write lost the CAS; the second look found nothing to change');
  t.equal(r.wrote, false);
  t.equal(r.entry?.port, b!.port, 'the rival entry was read again and kept (it is healthy)');
  t.equal(JSON.parse((await real.get('haproxy/ping/p1'))!.value).checker, 'rival:2');

  // The rival now writes garbage-free but different data that this checker disagrees with.
  b!.mode = 'fail';
  race = () => rival.put('haproxy/ping/p1', JSON.stringify({ name: 'p1', host: '127.0.0.1', port: b!.port, proxyport: 20000, servers: [{ host: '127.0.0.1', port: b!.port, weight: 100, role: 'active' }], version: 1, checker: 'rival:2', updated: new Date().toISOString() }));
  puts = 0;
  const r2 = await c.pass(signal);
  t.equal(puts, 2, 'lost once, then wrote on the fresh index');
  t.equal(r2.wrote, true);
  t.equal(JSON.parse((await real.get('haproxy/ping/p1'))!.value).port, a!.port);
});

t.test('log lines come from the kind when it has them', async (t) => {
  const [a] = await services(t, 'ok');
  const lines: string[] = [];
  const kind = { ...pingKind({ targets: [a!] }), okLine: (e: { host: string; port: number }) => `current ${e.host}:${e.port} is ok`, changedLine: (e: { host: string; port: number; name: string }) => `set new alive ${e.host}:${e.port} with tag ${e.name} ok` };
  const c = checker(t, kind, fileStore(t), { lines });
  await c.pass(signal);
  await c.pass(signal);
  t.ok(lines.includes(`set new alive 127.0.0.1:${a!.port} with tag p1 ok`));
  t.ok(lines.includes(`current 127.0.0.1:${a!.port} is ok`));
});

t.test("the kind's ok line names the store's backend, not the first word of its description", async (t) => {
  const [a] = await services(t, 'ok');
  const lines: string[] = [];
  const kind = { ...pingKind({ targets: [a!] }), okLine: (e: { name: string }, backend: string) => `${e.name} in ${backend} is ok` };
  const c = checker(t, kind, storeWith(fileStore(t), { describe: 'kv.json, the test store' }), { lines });
  await c.pass(signal);
  await c.pass(signal);
  t.ok(lines.includes('p1 in file is ok'), lines.join('\n'));
});

t.test('runTagChecker passes every interval, is not stalled by a hung target, and stops on its signal', async (t) => {
  const [h, a] = await services(t, 'hang', 'ok');
  const store = fileStore(t);
  const c = new TagChecker({ tag: 'p1', kind: pingKind({ targets: [h!, a!] }), store, logger: quiet, checker: 'loop:1', timeoutMs: 150, retryUp: 1, retryDown: 1, lockTtlMs: 3000 });
  const ac = new AbortController();
  const reports: PassReport[] = [];
  const started = Date.now();
  const loop = runTagChecker(c, { intervalMs: 100, signal: ac.signal, onPass: (r) => reports.push(r) });
  t.ok((await within(30_000, () => reports.length >= 5)) >= 0, 'five passes despite the hung target');
  ac.abort();
  await loop;
  const elapsed = Date.now() - started;
  t.ok(reports.length <= elapsed / 100 + 1, `${reports.length} passes in ${elapsed} ms: none sooner than the 100 ms interval`);
  t.equal(reports.filter((r) => r.wrote).length, 1, 'one write in all those passes');
  t.notOk((await store.get('haproxy/.locks/ping/p1'))?.session, 'the lock was released at the end');
});

t.test('a tag whose only target hangs does not slow down another tag in the same process', async (t) => {
  const [h, a] = await services(t, 'hang', 'ok');
  const ac = new AbortController();
  const mk = (tag: string, target: PingService) =>
    new TagChecker({ tag, kind: pingKind({ targets: [target] }), store: fileStore(t), logger: quiet, checker: 'loop:1', timeoutMs: 1000, retryUp: 1, retryDown: 1, lockTtlMs: 3000 });
  const passes = { hung: 0, fine: 0 };
  const loops = [
    runTagChecker(mk('hung', h!), { intervalMs: 100, signal: ac.signal, onPass: () => passes.hung++ }),
    runTagChecker(mk('fine', a!), { intervalMs: 100, signal: ac.signal, onPass: () => passes.fine++ }),
  ];
  // Paced by the hung tag's 1 s timeout, seven passes would take at least 7 s.
  const took = await within(7000 - 1, () => passes.fine >= 7);
  ac.abort();
  await Promise.all(loops);
  t.ok(took >= 0, `the other tag kept its 100 ms interval: seven passes in ${took} ms`);
  t.ok(passes.hung < passes.fine, `the hung tag managed ${passes.hung} pass(es) with a 1 s timeout, the other ${passes.fine}`);
});
