import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, type CheckerLogger, type PassReport, type Target } from '@confd-haproxy/checker';
import { redisKind, RedisConnection, type RedisKindOptions } from '@confd-haproxy/check-redis';
import { redisRole, startRedis, startRedisSet, startSentinel, type RedisHandle } from '@confd-haproxy/testkit';

const signal = new AbortController().signal;
const at = (h: RedisHandle): Target => ({ host: h.host, port: h.port });
const logger = (lines: string[] = []): CheckerLogger => ({ debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) });

function checker(t: Test, opts: Omit<RedisKindOptions, 'tag'> & { lines?: string[]; retryUp?: number }) {
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const lines = opts.lines ?? [];
  const kind = redisKind({ tag: 'cache', logger: logger(lines), ...opts });
  const c = new TagChecker({ tag: 'cache', kind, store, logger: logger(lines), checker: 'test:1', timeoutMs: 400, retryUp: opts.retryUp ?? 1, retryDown: 1, lockTtlMs: 5000 });
  t.teardown(async () => {
    await c.close();
    await store.close();
  });
  return { c, kind, store, lines };
}

/** Run passes until the entry points at port (or the bound runs out); the reports, in order. */
async function passesUntil(c: TagChecker, port: number, max = 60) {
  for (let i = 0; i < max; i++) {
    const r = await c.pass(signal);
    if (r.entry?.port === port) return r;
    await new Promise((done) => setTimeout(done, 100));
  }
  return undefined;
}

t.test('a primary with two replicas: the entry points at the primary, replicas only as configured backups', async (t) => {
  const set = await startRedisSet({ replicas: 2 });
  t.teardown(() => set.stop());
  const servers = [...set.replicas, set.primary].map(at);
  const plain = checker(t, { servers });
  const r = await plain.c.pass(signal);
  t.equal(r.wrote, true);
  t.match(r.entry, { name: 'cache', host: '127.0.0.1', port: set.primary.port, proxyport: set.replicas[0]!.port + 5000 });
  t.same(r.entry!.servers, [{ host: '127.0.0.1', port: set.primary.port, weight: 100, role: 'active' }], 'only the master serves by default');
  t.ok(plain.lines.some((l) => l === `set master 127.0.0.1:${set.primary.port} with tag cache`));
  t.equal((await plain.c.pass(signal)).wrote, false, 'a steady master writes nothing');

  const backups = checker(t, { servers, replicasAsBackup: true });
  const b = await backups.c.pass(signal);
  t.same(b.entry!.servers.map((s) => `${s.port} ${s.role}`), [`${set.primary.port} active`, `${set.replicas[0]!.port} backup`, `${set.replicas[1]!.port} backup`]);
});

t.test('the master killed: the entry stays until a replica is promoted, then follows it', async (t) => {
  const set = await startRedisSet({ replicas: 2 });
  t.teardown(() => set.stop());
  const [r1, r2] = set.replicas as [RedisHandle, RedisHandle];
  const { c, lines } = checker(t, { servers: [set.primary, r1, r2].map(at) });
  t.equal((await c.pass(signal)).entry?.port, set.primary.port);
  set.primary.kill('SIGKILL');
  const orphaned = await c.pass(signal);
  t.equal(orphaned.wrote, false);
  t.equal(orphaned.entry?.port, set.primary.port, 'no master anywhere: HAProxy keeps what it has');
  t.ok(lines.some((l) => l.includes('no server answers ROLE as master')), 'and the reason is logged');
  await r1.cli('REPLICAOF', 'NO', 'ONE');
  await r2.cli('REPLICAOF', '127.0.0.1', String(r1.port));
  const moved = await c.pass(signal);
  t.equal(moved.wrote, true);
  t.equal(moved.entry?.port, r1.port, 'the promoted replica is the new master');
  t.ok(lines.some((l) => l === `set master 127.0.0.1:${r1.port} with tag cache (was 127.0.0.1:${set.primary.port})`));
});

t.test('split-brain: two masters keep the current entry, are reported on every pass, and nothing flips', async (t) => {
  const set = await startRedisSet({ replicas: 1 });
  t.teardown(() => set.stop());
  const replica = set.replicas[0]!;
  const { c, lines } = checker(t, { servers: [set.primary, replica].map(at) });
  t.equal((await c.pass(signal)).entry?.port, set.primary.port);
  await replica.cli('REPLICAOF', 'NO', 'ONE');
  for (let i = 0; i < 5; i++) {
    const r = await c.pass(signal);
    t.equal(r.wrote, false, `pass ${i + 1} writes nothing`);
    t.equal(r.entry?.port, set.primary.port, `pass ${i + 1} keeps the entry on the first master`);
  }
  t.equal(lines.filter((l) => l.startsWith('ERROR cache: split-brain')).length, 5, 'reported loudly on every pass');
  await set.primary.cli('REPLICAOF', '127.0.0.1', String(replica.port));
  const resolved = await c.pass(signal);
  t.equal(resolved.entry?.port, replica.port, 'once resolved, the one master left is followed');
});

t.test('an old master back after a failover is split-brain, not a reason to flip back', async (t) => {
  const set = await startRedisSet({ replicas: 1 });
  t.teardown(() => set.stop());
  const replica = set.replicas[0]!;
  const oldPort = set.primary.port;
  const { c, lines } = checker(t, { servers: [set.primary, replica].map(at), retryUp: 2 });
  await c.pass(signal);
  set.primary.kill('SIGKILL');
  await replica.cli('REPLICAOF', 'NO', 'ONE');
  t.equal((await c.pass(signal)).entry?.port, replica.port);
  const back = await startRedis({ port: oldPort }); // empty, and a master again
  t.teardown(() => back.stop());
  for (let i = 0; i < 4; i++) t.equal((await c.pass(signal)).entry?.port, replica.port, `pass ${i + 1} stays on the new master`);
  t.ok(lines.some((l) => l.includes('split-brain')), 'once it counts as up again (retry-up 2), the two masters are reported');
});

t.test('a hung master (SIGSTOP) fails its probe at the deadline and the entry is kept', async (t) => {
  const set = await startRedisSet({ replicas: 1 });
  t.teardown(() => set.stop());
  const { c } = checker(t, { servers: [set.primary, set.replicas[0]!].map(at) });
  await c.pass(signal);
  set.primary.kill('SIGSTOP');
  t.teardown(() => set.primary.kill('SIGCONT'));
  const started = Date.now();
  const r = await c.pass(signal);
  // A stopped server never answers: the pass ended by the 400 ms deadline, which the reason names.
  t.comment(`the pass took ${Date.now() - started} ms`);
  t.match(r.results.find((x) => x.target.port === set.primary.port)?.result, { ok: false, reason: /no answer within 400 ms/ });
  t.equal(r.entry?.port, set.primary.port);
  set.primary.kill('SIGCONT');
  t.equal((await c.pass(signal)).results.every((x) => x.result.ok), true, 'after SIGCONT a fresh connection answers');
});

t.test('with a password the probe authenticates, and a wrong one fails with the server\'s reason', async (t) => {
  const h = await startRedis({ password: 's3cret' });
  t.teardown(() => h.stop());
  const good = checker(t, { servers: [at(h)], password: 's3cret' });
  t.equal((await good.c.pass(signal)).entry?.port, h.port);
  const bad = checker(t, { servers: [at(h)], password: 'wrong' });
  t.match((await bad.c.pass(signal)).results[0]?.result, { ok: false, reason: /AUTH refused: WRONGPASS/ });
  const none = new RedisConnection({ host: h.host, port: h.port });
  t.teardown(() => none.close());
  t.match(await none.command(['ROLE'], signal), { message: /NOAUTH/ }, 'without AUTH the server says NOAUTH');
});

t.test('with --sentinel, the master Sentinel names (and ROLE confirms) is followed through a failover', async (t) => {
  const set = await startRedisSet({ replicas: 2 });
  t.teardown(() => set.stop());
  const sentinel = await startSentinel({ masterName: 'cache', masterPort: set.primary.port, downAfterMs: 1000, failoverTimeoutMs: 5000 });
  t.teardown(() => sentinel.stop());
  const { c, lines } = checker(t, { servers: [], proxyport: 16000, sentinels: [at(sentinel)] });
  const first = await c.pass(signal);
  t.equal(first.entry?.port, set.primary.port, 'the master Sentinel names');
  t.equal(first.entry?.proxyport, 16000);
  set.primary.kill('SIGKILL');
  const replicaPorts = set.replicas.map((r) => r.port);
  let moved: PassReport | undefined;
  for (let i = 0; i < 150 && !moved; i++) {
    const r = await c.pass(signal);
    if (r.entry && replicaPorts.includes(r.entry.port)) moved = r;
    else await new Promise((done) => setTimeout(done, 100));
  }
  t.ok(moved, 'the entry follows Sentinel\'s failover');
  const promoted = set.replicas.find((r) => r.port === moved?.entry?.port)!;
  t.equal((await redisRole(promoted))[0], 'master', 'and points at a server whose ROLE is master');
  t.notOk(lines.some((l) => l.includes('split-brain')));
});

t.test('with --sentinel, a master named by Sentinel that ROLE denies is not written', async (t) => {
  const set = await startRedisSet({ replicas: 1 });
  t.teardown(() => set.stop());
  const sentinel = await startSentinel({ masterName: 'cache', masterPort: set.primary.port });
  t.teardown(() => sentinel.stop());
  const { c, lines } = checker(t, { servers: [], proxyport: 16001, sentinels: [at(sentinel)] });
  t.equal((await c.pass(signal)).entry?.port, set.primary.port);
  // The primary steps down behind Sentinel's back: until Sentinel notices, it still names it.
  await set.primary.cli('REPLICAOF', '127.0.0.1', String(set.replicas[0]!.port));
  const r = await c.pass(signal);
  t.equal(r.wrote, false);
  t.ok(lines.some((l) => l.includes(`sentinel names 127.0.0.1:${set.primary.port} but ROLE there says slave`)));
});

t.test('the entry follows a master at a second Sentinel when the first is down', async (t) => {
  const set = await startRedisSet({ replicas: 0 });
  t.teardown(() => set.stop());
  const sentinel = await startSentinel({ masterName: 'cache', masterPort: set.primary.port });
  t.teardown(() => sentinel.stop());
  const { c } = checker(t, { servers: [], proxyport: 16002, sentinels: [{ host: '127.0.0.1', port: 1 }, at(sentinel)] });
  t.ok(await passesUntil(c, set.primary.port, 5));
});

t.test('sentinels with their own password are asked with it', async (t) => {
  const set = await startRedisSet({ replicas: 0 });
  t.teardown(() => set.stop());
  const sentinel = await startSentinel({ masterName: 'cache', masterPort: set.primary.port, sentinelPassword: 'sentinel-pw' });
  t.teardown(() => sentinel.stop());
  const without = checker(t, { servers: [], proxyport: 16003, sentinels: [at(sentinel)] });
  t.equal((await without.c.pass(signal)).entry, undefined, 'without it the sentinel answers NOAUTH and nothing is written');
  t.ok(without.lines.some((l) => /no sentinel named a master .*NOAUTH/.test(l)), 'and the reason says so');
  const withPw = checker(t, { servers: [], proxyport: 16003, sentinels: [at(sentinel)], sentinelPassword: 'sentinel-pw' });
  t.equal((await withPw.c.pass(signal)).entry?.port, set.primary.port);
});
