// The store contract: every backend runs this suite unchanged.
import type { Test } from 'tap';
import { isStoreBackend, STORE_BACKENDS, type KVStore } from '@confd-haproxy/kv';

export interface ContractSpace {
  /** Two independent clients on the same store (separate connections/processes' view). */
  a: KVStore;
  b: KVStore;
  /** A prefix no other test uses, ending in "/". Every key of a test lives under it. */
  prefix: string;
  /** The shortest lock TTL this backend accepts (ms). */
  lockTtlMs: number;
  close(): Promise<void>;
}

export interface ContractFixture {
  name: string;
  open(): Promise<ContractSpace>;
  /**
   * How many cases may run side by side (default 1): more only where one case's writes change
   * nothing another case reads, indexes included. The lock cases mostly wait out TTLs.
   */
  casesAtOnce?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function runContract(t: Test, fixture: ContractFixture): void {
  t.jobs = fixture.casesAtOnce ?? 1;
  const space = async (tt: Test): Promise<ContractSpace> => {
    const s = await fixture.open();
    tt.teardown(() => s.close());
    return s;
  };

  t.test(`${fixture.name}: the store names its backend as --backend does, and its description starts with it`, async (tt) => {
    const { a } = await space(tt);
    tt.ok(isStoreBackend(a.backend), `"${a.backend}" is one of ${STORE_BACKENDS.join(', ')}`);
    tt.ok(a.describe.startsWith(`${a.backend} `), `"${a.describe}" starts with it`);
  });

  t.test(`${fixture.name}: a put is read back by get and list, sorted by key`, async (tt) => {
    const { a, b, prefix } = await space(tt);
    tt.equal(await a.put(`${prefix}z`, 'last'), true);
    tt.equal(await a.put(`${prefix}a`, '{"name":"a"}'), true);
    tt.equal(await a.put(`${prefix}m/n`, ''), true);
    const one = await b.get(`${prefix}a`);
    tt.equal(one?.value, '{"name":"a"}');
    tt.ok((one?.modifyIndex ?? 0) > 0, 'modifyIndex is positive');
    tt.equal((await b.get(`${prefix}m/n`))?.value, '', 'an empty value reads back as ""');
    tt.equal(await b.get(`${prefix}missing`), undefined);
    const snap = await b.list(prefix);
    tt.same(snap.pairs.map((p) => p.key), [`${prefix}a`, `${prefix}m/n`, `${prefix}z`]);
    tt.ok(snap.index >= 1, 'the index is never below 1');
    tt.equal(snap.knownLeader, true);
    const empty = await b.list(`${prefix}nothing-here/`);
    tt.same(empty.pairs, []);
    tt.ok(empty.index >= 1, 'an empty prefix still has an index of at least 1');
  });

  t.test(`${fixture.name}: list of a prefix does not return its siblings`, async (tt) => {
    const { a, prefix } = await space(tt);
    await a.put(`${prefix}mysql/x`, '1');
    await a.put(`${prefix}mysqlslave/y`, '2');
    const snap = await a.list(`${prefix}mysql/`);
    tt.same(snap.pairs.map((p) => p.key), [`${prefix}mysql/x`]);
  });

  t.test(`${fixture.name}: values keep every byte of UTF-8 text`, async (tt) => {
    const { a, b, prefix } = await space(tt);
    const value = 'héllo "wörld" \\ {}\t✓';
    await a.put(`${prefix}u`, value);
    tt.equal((await b.get(`${prefix}u`))?.value, value);
  });

  t.test(`${fixture.name}: cas 0 writes only when the key is absent`, async (tt) => {
    const { a, b, prefix } = await space(tt);
    tt.equal(await a.put(`${prefix}k`, 'one', { cas: 0 }), true);
    tt.equal(await b.put(`${prefix}k`, 'two', { cas: 0 }), false, 'second create loses');
    tt.equal((await a.get(`${prefix}k`))?.value, 'one');
  });

  t.test(`${fixture.name}: a put with a stale cas index is refused and changes nothing`, async (tt) => {
    const { a, b, prefix } = await space(tt);
    await a.put(`${prefix}k`, 'v1');
    const seen = await a.get(`${prefix}k`);
    tt.ok(seen);
    tt.equal(await b.put(`${prefix}k`, 'v2', { cas: seen!.modifyIndex }), true, 'b wins with the current index');
    tt.equal(await a.put(`${prefix}k`, 'v3', { cas: seen!.modifyIndex }), false, 'a loses with the old index');
    const now = await a.get(`${prefix}k`);
    tt.equal(now?.value, 'v2');
    tt.ok(now!.modifyIndex > seen!.modifyIndex, 'modifyIndex grew');
  });

  t.test(`${fixture.name}: delete with cas removes only the version it names`, async (tt) => {
    const { a, prefix } = await space(tt);
    await a.put(`${prefix}k`, 'v1');
    const v1 = await a.get(`${prefix}k`);
    await a.put(`${prefix}k`, 'v2');
    tt.equal(await a.delete(`${prefix}k`, { cas: v1!.modifyIndex }), false);
    tt.equal((await a.get(`${prefix}k`))?.value, 'v2');
    const v2 = await a.get(`${prefix}k`);
    tt.equal(await a.delete(`${prefix}k`, { cas: v2!.modifyIndex }), true);
    tt.equal(await a.get(`${prefix}k`), undefined);
    tt.equal(await a.delete(`${prefix}gone`), true, 'deleting an absent key without cas succeeds');
  });

  t.test(`${fixture.name}: a delete raises the prefix index so watchers wake`, async (tt) => {
    const { a, prefix } = await space(tt);
    await a.put(`${prefix}k`, 'v');
    const before = await a.list(prefix);
    await a.delete(`${prefix}k`);
    const after = await a.list(prefix);
    tt.ok(after.index > before.index, `index ${after.index} > ${before.index}`);
    tt.same(after.pairs, []);
  });

  t.test(`${fixture.name}: a watch from index 0 answers at once`, async (tt) => {
    const { a, prefix } = await space(tt);
    await a.put(`${prefix}k`, 'v');
    const ac = new AbortController();
    const snap = await a.watch(prefix, 0, { signal: ac.signal, waitMs: 5000 });
    tt.same(snap.pairs.map((p) => p.value), ['v']);
  });

  t.test(`${fixture.name}: a blocking watch wakes when another client writes`, async (tt) => {
    const { a, b, prefix } = await space(tt);
    await a.put(`${prefix}k`, 'v1');
    const start = await a.list(prefix);
    const ac = new AbortController();
    const started = Date.now();
    const pending = a.watch(prefix, start.index, { signal: ac.signal, waitMs: 20_000 });
    await sleep(300);
    await b.put(`${prefix}k`, 'v2');
    const snap = await pending;
    tt.ok(Date.now() - started < 15_000, 'woke before the wait ran out');
    tt.ok(snap.index > start.index);
    tt.same(snap.pairs.map((p) => p.value), ['v2']);
  });

  t.test(`${fixture.name}: a blocking watch answers with the same data when the wait runs out`, async (tt) => {
    const { a, prefix } = await space(tt);
    await a.put(`${prefix}k`, 'v1');
    const start = await a.list(prefix);
    const ac = new AbortController();
    const started = Date.now();
    const snap = await a.watch(prefix, start.index, { signal: ac.signal, waitMs: 1000 });
    const took = Date.now() - started;
    tt.ok(took >= 900, `held the request (${took} ms)`);
    tt.ok(took < 10_000, `but not forever (${took} ms)`);
    tt.equal(snap.index, start.index);
    tt.same(snap.pairs.map((p) => p.value), ['v1']);
  });

  t.test(`${fixture.name}: a write elsewhere does not wake a watch on another prefix for good`, async (tt) => {
    const { a, b, prefix } = await space(tt);
    await a.put(`${prefix}mine/k`, 'v1');
    const start = await a.list(`${prefix}mine/`);
    const ac = new AbortController();
    const pending = a.watch(`${prefix}mine/`, start.index, { signal: ac.signal, waitMs: 1500 });
    await b.put(`${prefix}other/k`, 'x');
    const snap = await pending;
    // Consul may answer early with unchanged data; what matters is the data under the prefix.
    tt.same(snap.pairs.map((p) => p.value), ['v1']);
  });

  t.test(`${fixture.name}: an aborted watch rejects promptly`, async (tt) => {
    const { a, prefix } = await space(tt);
    await a.put(`${prefix}k`, 'v');
    const start = await a.list(prefix);
    const ac = new AbortController();
    const started = Date.now();
    const pending = a.watch(prefix, start.index, { signal: ac.signal, waitMs: 30_000 });
    setTimeout(() => ac.abort(), 200);
    await tt.rejects(pending, { code: 'KV_ABORTED' });
    tt.ok(Date.now() - started < 5000, 'returned soon after abort');
  });

  t.test(`${fixture.name}: an already aborted signal rejects reads and writes with KV_ABORTED, and writes nothing`, async (tt) => {
    const { a, prefix } = await space(tt);
    const ac = new AbortController();
    ac.abort();
    const signal = ac.signal;
    await tt.rejects(a.put(`${prefix}k`, 'v', { signal }), { code: 'KV_ABORTED' });
    await tt.rejects(a.delete(`${prefix}k`, { signal }), { code: 'KV_ABORTED' });
    await tt.rejects(a.get(`${prefix}k`, { signal }), { code: 'KV_ABORTED' });
    await tt.rejects(a.list(prefix, { signal }), { code: 'KV_ABORTED' });
    await tt.rejects(a.watch(prefix, 0, { signal }), { code: 'KV_ABORTED' });
    tt.equal(await a.get(`${prefix}k`), undefined, 'the aborted put wrote nothing');
  });

  t.test(`${fixture.name}: only one of two clients holds a lock`, async (tt) => {
    const { a, b, prefix, lockTtlMs } = await space(tt);
    const key = `${prefix}.locks/mysqlslave/s1`;
    const la = await a.acquireLock(key, { holder: 'host-a:1', ttlMs: lockTtlMs, lockDelayMs: 0 });
    tt.ok(la, 'a takes the lock');
    const lb = await b.acquireLock(key, { holder: 'host-b:2', ttlMs: lockTtlMs, lockDelayMs: 0 });
    tt.equal(lb, undefined, 'b is refused while a holds it');
    tt.equal(await la!.renew(), true, 'a can renew');
    const held = await b.get(key);
    tt.equal(held?.value, 'host-a:1', 'the lock key names its holder');
    tt.equal(held?.session, la!.session);
    await la!.release();
    const lb2 = await b.acquireLock(key, { holder: 'host-b:2', ttlMs: lockTtlMs, lockDelayMs: 0 });
    tt.ok(lb2, 'b takes the lock once a releases it');
    tt.equal(await la!.renew(), false, 'a released lock cannot be renewed back');
    await lb2?.release();
  });

  t.test(`${fixture.name}: a lock whose holder stops renewing is taken over after it expires`, async (tt) => {
    const { a, b, prefix, lockTtlMs } = await space(tt);
    const key = `${prefix}.locks/memcached/m1`;
    // Timed from before the acquire: the TTL starts after this, however slow the calls are.
    const started = Date.now();
    const la = await a.acquireLock(key, { holder: 'host-a:1', ttlMs: lockTtlMs, lockDelayMs: 0 });
    tt.ok(la);
    // a "dies": it never renews again.
    let lb = await b.acquireLock(key, { holder: 'host-b:2', ttlMs: lockTtlMs, lockDelayMs: 0 });
    tt.equal(lb, undefined, 'not before expiry');
    const deadline = started + lockTtlMs * 2 + 5000;
    while (!lb && Date.now() < deadline) {
      await sleep(Math.min(500, lockTtlMs / 4));
      lb = await b.acquireLock(key, { holder: 'host-b:2', ttlMs: lockTtlMs, lockDelayMs: 0 });
    }
    tt.ok(lb, `b took over after ${Date.now() - started} ms`);
    tt.ok(Date.now() - started >= lockTtlMs * 0.9, 'not before the TTL ran out');
    tt.equal(await la!.renew(), false, 'the dead holder learns it lost the lock');
    await lb?.release();
  });

  t.test(`${fixture.name}: lock-delay keeps a lock free for a while after its holder expires`, async (tt) => {
    const { a, b, prefix, lockTtlMs } = await space(tt);
    const key = `${prefix}.locks/delay`;
    const delay = 4000;
    const la = await a.acquireLock(key, { holder: 'a', ttlMs: lockTtlMs, lockDelayMs: delay });
    tt.ok(la);
    const started = Date.now();
    let took: number | undefined;
    const deadline = started + lockTtlMs * 2 + delay + 8000;
    while (took === undefined && Date.now() < deadline) {
      await sleep(250);
      const lb = await b.acquireLock(key, { holder: 'b', ttlMs: lockTtlMs, lockDelayMs: 0 });
      if (lb) {
        took = Date.now() - started;
        await lb.release();
      }
    }
    tt.ok(took !== undefined, 'eventually taken');
    tt.ok((took ?? 0) >= lockTtlMs + delay - 1000, `not before TTL + lock-delay (${took} ms)`);
  });

  t.test(`${fixture.name}: update writes the held key's value, and only while it is held`, async (tt) => {
    const { a, b, prefix, lockTtlMs } = await space(tt);
    const key = `${prefix}.status/i1`;
    const la = await a.acquireLock(key, { holder: '{"v":1}', ttlMs: lockTtlMs, lockDelayMs: 0, behavior: 'delete' });
    tt.ok(la);
    tt.equal(await la!.update('{"v":2}'), true);
    tt.equal((await b.get(key))?.value, '{"v":2}', 'others read the new value');
    tt.equal((await b.get(key))?.session, la!.session, 'still held by the same session');
    await la!.release();
    tt.equal(await la!.update('{"v":3}'), false, 'a released lock writes nothing');
  });

  t.test(`${fixture.name}: a key with behavior delete goes with its session, released or expired`, async (tt) => {
    const { a, b, prefix, lockTtlMs } = await space(tt);
    const released = await a.acquireLock(`${prefix}.status/gone`, { holder: 'x', ttlMs: lockTtlMs, lockDelayMs: 0, behavior: 'delete' });
    tt.ok(released);
    await released!.release();
    tt.equal(await b.get(`${prefix}.status/gone`), undefined, 'released: the key is deleted');
    // Timed from before the acquire: the TTL starts after this, however slow the calls are.
    const started = Date.now();
    const dying = await a.acquireLock(`${prefix}.status/dies`, { holder: 'z', ttlMs: lockTtlMs, lockDelayMs: 0, behavior: 'delete' });
    tt.ok(dying);
    const deadline = started + lockTtlMs * 2 + 5000;
    let present = true;
    while (present && Date.now() < deadline) {
      await sleep(Math.min(500, lockTtlMs / 4));
      present = (await b.list(`${prefix}.status/`)).pairs.some((p) => p.key === `${prefix}.status/dies`);
    }
    tt.notOk(present, `never renewed: gone after ${Date.now() - started} ms`);
    tt.ok(Date.now() - started >= lockTtlMs * 0.9, 'not before the TTL ran out');
  });

  t.test(`${fixture.name}: a key with behavior release stays with its last value but loses its holder, released or expired`, async (tt) => {
    const { a, b, prefix, lockTtlMs } = await space(tt);
    const key = `${prefix}.locks/kept`;
    const released = await a.acquireLock(key, { holder: 'x', ttlMs: lockTtlMs, lockDelayMs: 0, behavior: 'release' });
    tt.ok(released);
    tt.equal((await b.get(key))?.session, released!.session, 'held while the session lives');
    await released!.release();
    const kept = await b.get(key);
    tt.equal(kept?.value, 'x', 'released: the key stays with its value');
    tt.equal(kept?.session, undefined, 'released: nobody holds it');
    // Timed from before the acquire: the TTL starts after this, however slow the calls are.
    const started = Date.now();
    const dying = await a.acquireLock(`${prefix}.locks/expires`, { holder: 'z', ttlMs: lockTtlMs, lockDelayMs: 0, behavior: 'release' });
    tt.ok(dying);
    tt.equal(await dying!.update('z2'), true);
    const deadline = started + lockTtlMs * 2 + 5000;
    let held = true;
    while (held && Date.now() < deadline) {
      await sleep(Math.min(500, lockTtlMs / 4));
      held = (await b.list(`${prefix}.locks/`)).pairs.some((p) => p.key === `${prefix}.locks/expires` && p.session !== undefined);
    }
    tt.notOk(held, `never renewed: unlocked after ${Date.now() - started} ms`);
    tt.ok(Date.now() - started >= lockTtlMs * 0.9, 'not before the TTL ran out');
    const left = await b.get(`${prefix}.locks/expires`);
    tt.equal(left?.value, 'z2', 'expired: the key stays with its last value');
    tt.equal(left?.session, undefined, 'expired: nobody holds it');
    const taken = await b.acquireLock(`${prefix}.locks/expires`, { holder: 'y', ttlMs: lockTtlMs, lockDelayMs: 0, behavior: 'release' });
    tt.ok(taken, 'another client takes the kept key');
    tt.equal((await a.get(`${prefix}.locks/expires`))?.value, 'y', 'and its value names the new holder');
    await taken?.release();
  });
}
