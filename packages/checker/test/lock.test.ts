import t from 'tap';
import type { Test } from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore, type KVLock, type KVStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type CheckerKind } from '@confd-haproxy/checker';
import { collect, pingKind, quiet, sleep, startPingService, storeWith, within, type PingService } from './helpers.js';

const signal = new AbortController().signal;
const LOCK = 'haproxy/.locks/ping/p1';

async function services(t: Test): Promise<[PingService, PingService]> {
  const all = await Promise.all([startPingService(), startPingService()]);
  t.teardown(() => Promise.all(all.map((s) => s.close())));
  return all as [PingService, PingService];
}

function fileStore(t: Test, file: string): KVStore {
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  return store;
}

function checker(t: Test, name: string, kind: CheckerKind, store: KVStore, o: { lockTtlMs?: number; lines?: string[] } = {}) {
  const c = new TagChecker({ tag: 'p1', kind, store, logger: o.lines ? collect(o.lines) : quiet, checker: name, timeoutMs: 300, retryUp: 1, retryDown: 1, lockTtlMs: o.lockTtlMs ?? 3000 });
  t.teardown(() => c.close());
  return c;
}

t.test('two checkers on one tag with opposite preferences: one writer, no flapping', async (t) => {
  const [a, b] = await services(t);
  const file = join(t.testdir({}), 'kv.json');
  const s1 = fileStore(t, file);
  const s2 = fileStore(t, file);
  // Without the lock these two would rewrite the key on every pass: each prefers another server.
  const one = checker(t, 'host-a:1', pingKind({ targets: [a, b], sticky: false }), s1);
  const two = checker(t, 'host-b:2', pingKind({ targets: [b, a], sticky: false }), s2);
  let writes = 0;
  for (let i = 0; i < 10; i++) {
    const [r1, r2] = await Promise.all([one.pass(signal), two.pass(signal)]);
    writes += Number(r1.wrote) + Number(r2.wrote);
    t.ok(r1.holder !== r2.holder, `pass ${i + 1}: exactly one holds the lock`);
  }
  t.equal(writes, 1, 'the entry was written once in ten passes of two checkers');
  const holder = one.holder ? 'host-a:1' : 'host-b:2';
  t.equal((await s1.get(LOCK))?.value, holder, 'the lock key names its holder');
  t.equal(JSON.parse((await s1.get('haproxy/ping/p1'))!.value).checker, holder, 'and the holder wrote the entry');
});

t.test('a standby takes over within the TTL after the holder stops renewing', async (t) => {
  const [a, b] = await services(t);
  const file = join(t.testdir({}), 'kv.json');
  const ttl = 1000;
  const holder = checker(t, 'host-a:1', pingKind({ targets: [a, b] }), fileStore(t, file), { lockTtlMs: ttl });
  const standby = checker(t, 'host-b:2', pingKind({ targets: [a, b] }), fileStore(t, file), { lockTtlMs: ttl });
  t.equal((await holder.pass(signal)).holder, true);
  t.equal((await standby.pass(signal)).holder, false);
  // The holder "dies": it neither renews nor releases. The standby keeps passing every 100 ms.
  const died = Date.now();
  let slowestPass = 0;
  const took = await within(3 * ttl, async () => {
    const started = Date.now();
    const r = await standby.pass(signal);
    slowestPass = Math.max(slowestPass, Date.now() - started);
    return r.holder;
  });
  t.ok(took >= 0, 'the standby took the lock');
  // One poll is a pass plus 20 ms: the take-over comes at most one poll after the TTL ran out.
  t.ok(took <= ttl + slowestPass + 50, `within the TTL (+ one pass of at most ${slowestPass} ms): ${took} ms after the holder's last renew`);
  a.mode = 'fail';
  const r = await standby.pass(signal);
  t.equal(r.wrote, true, 'and writes as the new holder');
  t.equal(r.entry?.port, b.port);
  t.ok(Date.now() - died < 3 * ttl);
});

t.test('a holder that lost its lock stops writing at once and says so', async (t) => {
  const [a, b] = await services(t);
  const file = join(t.testdir({}), 'kv.json');
  const lines: string[] = [];
  const old = checker(t, 'host-a:1', pingKind({ targets: [a, b] }), fileStore(t, file), { lockTtlMs: 600, lines });
  const next = checker(t, 'host-b:2', pingKind({ targets: [a, b] }), fileStore(t, file), { lockTtlMs: 600 });
  await old.pass(signal);
  // Paused past its TTL (a GC pause, a SIGSTOP): the other checker takes the lock meanwhile.
  await sleep(700);
  t.equal((await next.pass(signal)).holder, true, 'the other checker took the expired lock');
  a.mode = 'fail';
  const r = await old.pass(signal);
  t.equal(r.holder, false);
  t.equal(r.wrote, false, 'the old holder did not write');
  t.match(r.reason, /standby/);
  t.ok(lines.some((l) => l.includes('lost the lock haproxy/.locks/ping/p1: another checker (host-b:2) holds it now')), 'and logged the loss, naming the new holder');
});

t.test('a holder whose store restarted empty says the store forgot its session, and takes the lock again', async (t) => {
  const [a, b] = await services(t);
  const file = join(t.testdir({}), 'kv.json');
  const lines: string[] = [];
  const c = checker(t, 'host-a:1', pingKind({ targets: [a, b] }), fileStore(t, file), { lockTtlMs: 600, lines });
  t.equal((await c.pass(signal)).holder, true);
  // The store comes back without its data: no session, no lock key, no entry.
  rmSync(file);
  await sleep(200);
  const r = await c.pass(signal);
  t.equal(r.holder, true, 'the lock is taken again at once');
  const lost = lines.find((l) => l.includes('lost the lock'));
  t.match(lost, /the store no longer knows its session \(it expired, or the store restarted or was restored\)/);
  t.notMatch(lost, /another checker/, 'no other checker is blamed');
});

t.test('a lock that runs out while the entry is being read stops the write that would follow', async (t) => {
  const [a, b] = await services(t);
  const real = fileStore(t, join(t.testdir({}), 'kv.json'));
  let stall: Promise<void> | undefined;
  let reading: (() => void) | undefined;
  // The entry's read answers, then its answer is held (a slow store, a GC pause) until the test lets it go.
  const store = storeWith(real, {
    async get(k, o) {
      const pair = await real.get(k, o);
      if (stall && k === 'haproxy/ping/p1') {
        reading?.();
        await stall;
      }
      return pair;
    },
  });
  const c = checker(t, 'host-a:1', pingKind({ targets: [a, b] }), store, { lockTtlMs: 600 });
  t.equal((await c.pass(signal)).wrote, true, 'the holder wrote the first entry');
  a.mode = 'fail';
  let release!: () => void;
  stall = new Promise<void>((done) => (release = done));
  const isReading = new Promise<void>((done) => (reading = done));
  const pass = c.pass(signal);
  await isReading;
  // Meanwhile its lock runs out and another checker takes it.
  let other: KVLock | undefined;
  const deadline = Date.now() + 5000;
  while (!other && Date.now() < deadline) {
    other = await real.acquireLock(LOCK, { holder: 'host-b:2', ttlMs: 10_000, lockDelayMs: 0 });
    if (!other) await sleep(50);
  }
  t.ok(other, 'another checker took the expired lock');
  t.teardown(() => other?.release());
  release();
  const r = await pass;
  t.equal(r.wrote, false, 'the old holder did not write');
  t.equal(r.holder, false);
  t.equal(JSON.parse((await real.get('haproxy/ping/p1'))!.value).port, a.port, 'the entry is untouched');
});

t.test('a renew that fails (store unreachable) stops writes until a renew succeeds', async (t) => {
  const [a, b] = await services(t);
  const real = fileStore(t, join(t.testdir({}), 'kv.json'));
  let renewFails = false;
  // The real store, with renew failing as if the store were unreachable.
  const store = storeWith(real, {
    async acquireLock(k, o) {
      const lock = await real.acquireLock(k, o);
      if (!lock) return lock;
      const wrapped: KVLock = {
        key: lock.key,
        session: lock.session,
        holder: lock.holder,
        renew: () => (renewFails ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8500')) : lock.renew()),
        update: (v) => lock.update(v),
        release: () => lock.release(),
      };
      return wrapped;
    },
  });
  const lines: string[] = [];
  // TTL 400 ms: a pass more than 100 ms after the last renew renews first.
  const c = checker(t, 'host-a:1', pingKind({ targets: [a, b] }), store, { lockTtlMs: 400, lines });
  await c.pass(signal);
  renewFails = true;
  a.mode = 'fail';
  await sleep(150);
  const r = await c.pass(signal);
  t.equal(r.wrote, false, 'no write while the renew fails');
  t.equal(r.holder, false);
  t.equal(JSON.parse((await real.get('haproxy/ping/p1'))!.value).port, a.port, 'the entry is untouched');
  t.ok(lines.some((l) => /cannot renew the lock .* ECONNREFUSED/.test(l)), 'the failure is logged');
  renewFails = false;
  const r2 = await c.pass(signal);
  t.equal(r2.holder, true, 'a later renew that succeeds makes it the writer again');
  t.equal(r2.wrote, true);
  t.equal(r2.entry?.port, b.port);
});

t.test('runTagChecker keeps the lock between passes even with an interval longer than the TTL', async (t) => {
  const [a, b] = await services(t);
  const file = join(t.testdir({}), 'kv.json');
  const c = new TagChecker({ tag: 'p1', kind: pingKind({ targets: [a, b] }), store: fileStore(t, file), logger: quiet, checker: 'host-a:1', timeoutMs: 300, retryUp: 1, retryDown: 1, lockTtlMs: 3000 });
  const other = checker(t, 'host-b:2', pingKind({ targets: [a, b] }), fileStore(t, file), { lockTtlMs: 3000 });
  const ac = new AbortController();
  const loop = runTagChecker(c, { intervalMs: 30_000, signal: ac.signal });
  t.teardown(() => ac.abort());
  t.ok((await within(2000, () => c.holder)) >= 0, 'the loop took the lock');
  // A TTL long enough that a loaded machine still renews in time (renewal runs every TTL/3);
  // looked at well past one TTL, with no pass of the loop in between.
  for (let i = 0; i < 5; i++) {
    await sleep(1000);
    t.equal((await other.pass(signal)).holder, false, `after ${i + 1} s the lock is still held (TTL 3 s, no pass since)`);
  }
  ac.abort();
  await loop;
  t.equal((await other.pass(signal)).holder, true, 'released at the end, so the other takes it at once');
});
