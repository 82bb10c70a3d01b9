// Consul-specific behaviour of the Consul backend. Cases marked onlyDouble inject faults or read
// what the server received; the others also run against a real agent (CONSUL_HTTP_ADDR).
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createConsulStore, isKVError, parseConsulAddress, resolveConsulConfig, watchPrefix } from '@confd-haproxy/kv';
import { startConsulDouble, type ConsulDouble } from '@confd-haproxy/testkit';
import { consulTarget, onlyDouble, realAgent, uniquePrefix } from './helpers/consul.js';

const TOKEN = 'e95597e0-4045-11e7-a9ef-b6ba84687927';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll (bounded) until the double holds n blocking queries; whether it got there. */
async function held(double: ConsulDouble, n: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (double.blockedQueries !== n && Date.now() < deadline) await sleep(20);
  return double.blockedQueries === n;
}
const never = () => new AbortController().signal;

/** A store on a double of its own, closed (with the double) at teardown. */
async function doubleStore(t: Test, opts: Parameters<typeof startConsulDouble>[0] = {}, store: Parameters<typeof createConsulStore>[0] = {}) {
  const double = await startConsulDouble(opts);
  const s = createConsulStore({ address: double.address, ...store });
  t.teardown(async () => {
    await s.close();
    await double.close();
  });
  return { double, store: s };
}

const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

t.test('an address is read with or without a scheme, from the option or CONSUL_HTTP_ADDR', async (t) => {
  t.same(parseConsulAddress('127.0.0.1:8500'), { secure: false, host: '127.0.0.1', port: 8500 });
  t.same(parseConsulAddress('http://consul.local:8600'), { secure: false, host: 'consul.local', port: 8600 });
  t.same(parseConsulAddress('https://consul.local'), { secure: true, host: 'consul.local', port: 8501 });
  t.same(parseConsulAddress('consul.local'), { secure: false, host: 'consul.local', port: 8500 });
  t.same(parseConsulAddress('localhost', 'https'), { secure: true, host: 'localhost', port: 8501 });
  t.same(parseConsulAddress('[::1]:8500'), { secure: false, host: '::1', port: 8500 });
  t.throws(() => parseConsulAddress('ftp://x:1'), { code: 'KV_CONFIG', message: /scheme must be http or https/ });
  t.throws(() => parseConsulAddress('http://'), { code: 'KV_CONFIG' });
  t.equal(resolveConsulConfig({}).describe, 'consul 127.0.0.1:8500', 'default 127.0.0.1:8500');
  t.equal(resolveConsulConfig({ env: { CONSUL_HTTP_ADDR: 'https://c1:9501' } }).describe, 'consul https://c1:9501', 'https:// in CONSUL_HTTP_ADDR means TLS');
  t.equal(resolveConsulConfig({ env: { CONSUL_HTTP_ADDR: 'c1', CONSUL_HTTP_SSL: 'true' } }).describe, 'consul https://c1:8501', 'CONSUL_HTTP_SSL=true');
  t.equal(resolveConsulConfig({ address: 'c2:1', env: { CONSUL_HTTP_ADDR: 'c1:2' } }).describe, 'consul c2:1', 'the option wins over the env');
  t.equal(resolveConsulConfig({ address: '::1' }).describe, 'consul [::1]:8500');
});

const httpsAgent = realAgent && /^https:/.test(realAgent) ? { skip: 'the agent at CONSUL_HTTP_ADDR speaks https' } : {};
t.test('a store reaches the agent through an address with and without http://', httpsAgent, async (t) => {
  const target = await consulTarget();
  t.teardown(() => target.close());
  const bare = target.address.replace(/^http:\/\//, '');
  const prefix = uniquePrefix();
  const stores = [
    createConsulStore({ address: bare, env: target.env }),
    createConsulStore({ address: `http://${bare}`, env: target.env }),
    createConsulStore({ env: { ...target.env, CONSUL_HTTP_ADDR: `http://${bare}` } }),
    createConsulStore({ env: { ...target.env, CONSUL_HTTP_ADDR: bare } }),
  ];
  for (const [i, s] of stores.entries()) {
    t.teardown(() => s.close());
    t.equal(await s.put(`${prefix}k${i}`, `v${i}`), true, `store ${i} writes`);
    t.equal((await s.get(`${prefix}k${i}`))?.value, `v${i}`, `store ${i} reads back`);
    t.equal(s.describe, `consul ${bare}`);
  }
  await target.api(`/kv/${prefix}?recurse`, { method: 'DELETE' });
});

t.test('a CAS conflict: the stale writer gets false and the winner’s value stays', async (t) => {
  const target = await consulTarget();
  t.teardown(() => target.close());
  const a = createConsulStore({ address: target.address, env: target.env });
  const b = createConsulStore({ address: target.address, env: target.env });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const key = `${uniquePrefix()}mysqlslave/s1`;
  t.equal(await a.put(key, 'v1', { cas: 0 }), true, 'created with cas 0');
  const seen = (await a.get(key))!;
  const seenByB = (await b.get(key))!;
  t.equal(await b.put(key, 'from-b', { cas: seenByB.modifyIndex }), true, 'b writes first');
  t.equal(await a.put(key, 'from-a', { cas: seen.modifyIndex }), false, 'a, with the index it read, loses');
  t.equal(await a.delete(key, { cas: seen.modifyIndex }), false, 'and cannot delete the newer version either');
  t.equal((await a.get(key))?.value, 'from-b');
  if (target.double) {
    const casPuts = target.double.requests.filter((r) => r.method === 'PUT' && /[?&]cas=\d+/.test(r.url));
    t.equal(casPuts.length, 3, 'each CAS write sent ?cas=<index>');
    t.ok(target.double.requests.some((r) => r.method === 'DELETE' && r.url.includes(`cas=${seen.modifyIndex}`)), 'and the CAS delete too');
  }
  await a.delete(key);
});

t.test('flags are stored, and a write without flags resets them to 0 as Consul does', async (t) => {
  const target = await consulTarget();
  t.teardown(() => target.close());
  const s = createConsulStore({ address: target.address, env: target.env });
  t.teardown(() => s.close());
  const key = `${uniquePrefix()}flagged`;
  await s.put(key, 'v', { flags: 42 });
  t.equal((await s.get(key))?.flags, 42);
  await s.put(key, 'w');
  t.equal((await s.get(key))?.flags, 0);
  await s.delete(key);
});

t.test('the token travels only in the X-Consul-Token header, from the option, CONSUL_HTTP_TOKEN and a token file', onlyDouble, async (t) => {
  const double = await startConsulDouble({ acl: { enabled: true, tokens: { [TOKEN]: { rules: [{ prefix: '', policy: 'write' }, { resource: 'session', prefix: '', policy: 'write' }] } } } });
  t.teardown(() => double.close());
  const dir = t.testdir({ token: `${TOKEN}\n`, empty: '\n' });
  const sources = {
    option: createConsulStore({ address: double.address, token: TOKEN }),
    'CONSUL_HTTP_TOKEN': createConsulStore({ address: double.address, env: { CONSUL_HTTP_TOKEN: TOKEN } }),
    'CONSUL_HTTP_TOKEN_FILE': createConsulStore({ address: double.address, env: { CONSUL_HTTP_TOKEN_FILE: join(dir, 'token') } }),
    'tokenFile option': createConsulStore({ address: double.address, tokenFile: join(dir, 'token') }),
    'the option over a wrong env token': createConsulStore({ address: double.address, token: TOKEN, env: { CONSUL_HTTP_TOKEN: 'wrong' } }),
  };
  for (const [source, s] of Object.entries(sources)) {
    t.teardown(() => s.close());
    const from = double.requests.length;
    const key = `haproxy/${source.replace(/\W+/g, '-')}`;
    await s.put(key, 'v');
    await s.get(key);
    const snap = await s.list('haproxy/');
    await s.watch('haproxy/', snap.index, { signal: never(), waitMs: 200 });
    const lock = await s.acquireLock(`haproxy/.locks/${source.replace(/\W+/g, '-')}`, { holder: 'me', ttlMs: 10_000, lockDelayMs: 0 });
    t.ok(lock, `${source}: the lock is taken`);
    t.equal(await lock?.renew(), true);
    await lock?.release();
    await s.delete(key);
    const seen = double.requests.slice(from);
    t.ok(seen.length >= 9, `${source}: ${seen.length} requests`);
    t.same(seen.filter((r) => r.url.includes(TOKEN)).map((r) => r.url), [], `${source}: no URL holds the token`);
    t.same(seen.filter((r) => r.headers['x-consul-token'] !== TOKEN).map((r) => `${r.method} ${r.url}`), [], `${source}: every request carried X-Consul-Token`);
    t.notOk(seen.some((r) => r.headers.authorization), `${source}: and no Authorization header`);
    t.notMatch(s.describe, TOKEN, `${source}: describe does not show it`);
  }
  t.throws(() => createConsulStore({ address: double.address, tokenFile: join(dir, 'empty') }), { code: 'KV_CONFIG', message: /token file .*empty is empty/ });
  t.throws(() => createConsulStore({ address: double.address, env: { CONSUL_HTTP_TOKEN_FILE: join(dir, 'missing') } }), {
    code: 'KV_CONFIG',
    message: /cannot read the token file .*missing \(ENOENT\)/,
  });
});

t.test('the token comes from the option, else a token file, else CONSUL_HTTP_TOKEN, and a logged config leaves it out', async (t) => {
  const dir = t.testdir({ token: `from-file\n` });
  const file = join(dir, 'token');
  t.equal(resolveConsulConfig({ token: 'opt', tokenFile: file, env: { CONSUL_HTTP_TOKEN: 'env' } }).token, 'opt');
  t.equal(resolveConsulConfig({ tokenFile: file, env: { CONSUL_HTTP_TOKEN: 'env' } }).token, 'from-file');
  t.equal(resolveConsulConfig({ env: { CONSUL_HTTP_TOKEN_FILE: file, CONSUL_HTTP_TOKEN: 'env' } }).token, 'from-file', 'the file wins over the variable, as in Consul');
  t.equal(resolveConsulConfig({ env: { CONSUL_HTTP_TOKEN: 'env' } }).token, 'env');
  t.equal(resolveConsulConfig({}).token, undefined);
  const config = resolveConsulConfig({ token: TOKEN });
  t.notMatch(JSON.stringify(config), TOKEN);
  t.notMatch(inspect(config, { depth: 10 }), TOKEN);
});

t.test('a unit with a dynamic user gets its token as the systemd credential consul-token', async (t) => {
  const dir = t.testdir({ creds: { 'consul-token': 'from-credential\n' }, empty: { 'consul-token': '' }, none: {} });
  const [creds, empty] = [join(dir, 'creds'), join(dir, 'empty')];
  t.equal(resolveConsulConfig({ env: { CREDENTIALS_DIRECTORY: creds, CONSUL_HTTP_TOKEN: 'env' } }).token, 'from-credential', 'the credential wins over the variable, as a file does');
  t.equal(resolveConsulConfig({ env: { CREDENTIALS_DIRECTORY: empty, CONSUL_HTTP_TOKEN: 'env' } }).token, 'env', "an empty credential (the unit's SetCredential= default) is no token");
  t.equal(resolveConsulConfig({ env: { CREDENTIALS_DIRECTORY: join(dir, 'none') } }).token, undefined, 'no credential of that name: no token');
  t.equal(resolveConsulConfig({ tokenFile: join(creds, 'consul-token'), env: { CREDENTIALS_DIRECTORY: empty } }).token, 'from-credential', 'a token file given by flag still wins');
});

t.test('errors never show the token, not even deep inside their cause', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t, { acl: { tokens: { [TOKEN]: [{ prefix: 'haproxy/', policy: 'read' }] } } }, { token: TOKEN, timeoutMs: 300 });
  const errors: unknown[] = [];
  errors.push(await rejection(store.put('haproxy/x', 'v')));
  double.faults.fail(500, 4); // a read is tried 4 times
  errors.push(await rejection(store.get('haproxy/x')));
  double.faults.delay(600);
  errors.push(await rejection(store.get('haproxy/x')));
  double.faults.delay(0);
  double.revokeToken(TOKEN);
  errors.push(await rejection(store.list('haproxy/')));
  await double.faults.refuseConnections(true);
  errors.push(await rejection(store.get('haproxy/x')));
  t.same(
    errors.map((e) => (e as { code?: string }).code),
    ['KV_FORBIDDEN', 'KV_SERVER', 'KV_UNREACHABLE', 'KV_FORBIDDEN', 'KV_UNREACHABLE'],
  );
  for (const e of errors) {
    t.notMatch(inspect(e, { depth: 20, showHidden: true }), TOKEN, `${(e as Error).message}: no token anywhere in the error`);
  }
});

t.test('a blocking query never sends an index of 0 or below', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  await store.put('haproxy/a', '1');
  for (const since of [0, -5, -0.5, Number.NaN, 0.9]) {
    const snap = await store.watch('haproxy/', since, { signal: never(), waitMs: 5000 });
    t.same(snap.pairs.map((p) => p.value), ['1'], `since ${since}: a plain read, answered at once`);
  }
  const snap = await store.list('haproxy/');
  await store.watch('haproxy/', snap.index, { signal: never(), waitMs: 100 });
  const indexes = double.requests.map((r) => new URL(r.url, 'http://x').searchParams).filter((q) => q.has('index'));
  t.same(indexes.map((q) => q.get('index')), [String(snap.index)], 'only the real blocking query sent an index');
  t.equal(indexes[0]?.get('wait'), '100ms', 'with the wait');
});

t.test('an index that goes backwards gives a fresh snapshot with the lower index, and the next watch works', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  for (let i = 0; i < 20; i++) await store.put(`haproxy/k${i % 3}`, `v${i}`);
  const before = await store.list('haproxy/');
  t.ok(before.index > 10);
  const pending = store.watch('haproxy/', before.index, { signal: never(), waitMs: 20_000 });
  setTimeout(() => double.faults.resetIndex(), 200);
  const after = await pending;
  t.ok(after.index < before.index, `the index dropped from ${before.index} to ${after.index}`);
  t.same(after.pairs.map((p) => p.value), before.pairs.map((p) => p.value), 'with the data intact');
  const next = store.watch('haproxy/', after.index, { signal: never(), waitMs: 20_000 });
  setTimeout(() => void store.put('haproxy/k0', 'fresh'), 200);
  const woke = await next;
  t.equal(woke.pairs[0]?.value, 'fresh', 'a watch from the new index wakes on the next write');
  t.ok(woke.index > after.index);
  t.notOk(double.requests.some((r) => /[?&]index=(0|-)/.test(r.url)), 'no index ≤ 0 was ever sent');
});

t.test('after the index goes backwards with no connection error, watchPrefix sees the next write at once, not at the end of its wait', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  for (let i = 0; i < 20; i++) await store.put(`haproxy/k${i % 3}`, `v${i}`);
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const seen: string[] = [];
  const resets: number[] = [];
  const loop = (async () => {
    // A wait far longer than the test allows: a watch left on the old, higher index is held for all of it.
    for await (const snap of watchPrefix(store, 'haproxy/', { signal: ac.signal, waitMs: 60_000, onReset: (r) => resets.push(r.to) })) {
      seen.push(snap.pairs.find((p) => p.key === 'haproxy/k0')?.value ?? '');
    }
  })();
  t.ok(await held(double, 1), 'the watch is held');
  double.faults.resetIndex();
  const deadline = Date.now() + 10_000;
  while (resets.length === 0 && Date.now() < deadline) await sleep(20);
  t.equal(resets.length, 1, 'the reset was told');
  t.ok(await held(double, 1), 'and the watch is held again');
  const wrote = Date.now();
  await store.put('haproxy/k0', 'after-reset');
  while (!seen.includes('after-reset') && Date.now() - wrote < 5_000) await sleep(20);
  t.ok(seen.includes('after-reset'), `the write after the reset was seen in ${Date.now() - wrote} ms (the watch continued from the new, lower index)`);
  ac.abort();
  await loop;
});

t.test('watchPrefix yields once across a reset, an early wake-up and a restart of the agent', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t, {}, { timeoutMs: 1000 });
  await store.put('haproxy/a', '1');
  const ac = new AbortController();
  const errors: string[] = [];
  const seen: string[] = [];
  const loop = (async () => {
    for await (const snap of watchPrefix(store, 'haproxy/', {
      signal: ac.signal,
      waitMs: 5000,
      backoff: { baseMs: 50, maxMs: 400 },
      onError: (err) => errors.push((err as { code: string }).code),
    })) {
      seen.push(snap.pairs.map((p) => p.value).join());
      if (seen.length === 2) ac.abort();
    }
  })();
  const stop = setTimeout(() => ac.abort(), 20_000);
  t.ok(await held(double, 1), 'the watch is held');
  double.faults.wakeBlockedQueries();
  t.ok(await held(double, 1), 'and held again after an early wake-up');
  double.faults.resetIndex();
  t.ok(await held(double, 1), 'and again after an index reset');
  await double.faults.refuseConnections(true);
  const down = Date.now();
  while (errors.length === 0 && Date.now() - down < 10_000) await sleep(20);
  await double.faults.refuseConnections(false);
  t.ok(await held(double, 1), 'and again once the agent is back');
  await store.put('haproxy/a', '2');
  await loop;
  clearTimeout(stop);
  t.same(seen, ['1', '2'], 'the first read, then only the real change');
  t.ok(errors.length >= 1, `errors reported while down: ${errors.length}`);
  t.ok(errors.every((c) => c === 'KV_UNREACHABLE'), 'as KV_UNREACHABLE');
});

t.test('aborting a watch cancels its HTTP request at once', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  const snap = await store.list('haproxy/');
  const ac = new AbortController();
  const pending = store.watch('haproxy/', snap.index, { signal: ac.signal, waitMs: 60_000 });
  t.ok(await held(double, 1), 'the query is held by the agent');
  const started = Date.now();
  ac.abort();
  await t.rejects(pending, { code: 'KV_ABORTED' });
  t.ok(Date.now() - started < 30_000, 'rejected at the abort, not at the end of the 60 s wait');
  t.ok(await held(double, 0), 'and the agent saw the request go away');
});

t.test('closing the store cancels a watch in flight', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  const snap = await store.list('haproxy/');
  const pending = store.watch('haproxy/', snap.index, { signal: never(), waitMs: 60_000 });
  t.ok(await held(double, 1), 'the watch is in flight');
  await store.close();
  await t.rejects(pending, { code: 'KV_ABORTED' });
  await t.rejects(store.list('haproxy/'), { code: 'KV_ABORTED', message: /closed/ });
  t.ok(await held(double, 0), 'and the agent saw the request go away');
});

t.test('a blocking query that comes back early with no change returns the same data', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  await store.put('haproxy/a', '1');
  const snap = await store.list('haproxy/');
  const started = Date.now();
  const pending = store.watch('haproxy/', snap.index, { signal: never(), waitMs: 30_000 });
  t.ok(await held(double, 1), 'the watch is held');
  double.faults.wakeBlockedQueries();
  const early = await pending;
  t.ok(Date.now() - started < 20_000, 'it came back early, not at the end of the 30 s wait');
  t.equal(early.index, snap.index);
  t.same(early.pairs, snap.pairs);
});

t.test('an ACL denial is KV_FORBIDDEN naming the key and the permission, never the token', onlyDouble, async (t) => {
  const double = await startConsulDouble({
    acl: {
      enabled: true,
      masterToken: 'root',
      // Sessions on the agent's node: a lock is then refused for its key, not for its session.
      tokens: { [TOKEN]: { rules: [{ prefix: 'haproxy/', policy: 'read' }, { prefix: 'haproxy/secret/', policy: 'deny' }, { resource: 'session', prefix: 'consul-double', exact: true, policy: 'write' }] } },
    },
  });
  t.teardown(() => double.close());
  const reader = createConsulStore({ address: double.address, token: TOKEN });
  const admin = createConsulStore({ address: double.address, token: 'root' });
  const anonymous = createConsulStore({ address: double.address });
  t.teardown(() => Promise.all([reader.close(), admin.close(), anonymous.close()]));
  await admin.put('haproxy/mysqlslave/s1', '{}');
  await admin.put('haproxy/secret/k', 'x');
  t.same((await reader.list('haproxy/')).pairs.map((p) => p.key), ['haproxy/mysqlslave/s1'], 'reads are allowed, denied keys filtered out');

  const put = await rejection(reader.put('haproxy/mysqlslave/s1', 'x'));
  t.ok(isKVError(put, 'KV_FORBIDDEN'));
  t.match(put, { message: /put "haproxy\/mysqlslave\/s1": permission denied \(the ACL token lacks permission to write "haproxy\/mysqlslave\/s1"; Consul said "Permission denied"\)/ });
  t.notMatch((put as Error).message, TOKEN);
  await t.rejects(reader.get('haproxy/secret/k'), { code: 'KV_FORBIDDEN', message: /get "haproxy\/secret\/k": permission denied \(the ACL token lacks permission to read/ });
  await t.rejects(reader.delete('haproxy/mysqlslave/s1'), { code: 'KV_FORBIDDEN', message: /delete "haproxy\/mysqlslave\/s1"/ });
  await t.rejects(anonymous.get('haproxy/mysqlslave/s1'), { code: 'KV_FORBIDDEN', message: /no ACL token is set .*CONSUL_HTTP_TOKEN/ });
  await t.rejects(reader.acquireLock('haproxy/.locks/x', { holder: 'me' }), { code: 'KV_FORBIDDEN', message: /acquire the lock "haproxy\/.locks\/x"/ });
  await t.rejects(anonymous.acquireLock('haproxy/.locks/x', { holder: 'me' }), {
    code: 'KV_FORBIDDEN',
    message: /create a lock session for "haproxy\/.locks\/x": permission denied \(no ACL token is set and the anonymous token lacks permission to create a session \(session write on the agent's node\)/,
  }, 'without session rules the lock is refused at its session, saying which rule is missing');
  const sessions = (await (await fetch(`${double.url}/v1/session/list`, { headers: { 'X-Consul-Token': 'root' } })).json()) as unknown[];
  t.same(sessions, [], 'the refused lock left no session behind');

  double.revokeToken(TOKEN);
  await t.rejects(reader.list('haproxy/'), { code: 'KV_FORBIDDEN', message: /list "haproxy\/": permission denied \(the ACL token is unknown or was revoked; Consul said "ACL not found"\)/ });
  const stranger = createConsulStore({ address: double.address, token: 'never-issued' });
  t.teardown(() => stranger.close());
  await t.rejects(stranger.get('haproxy/mysqlslave/s1'), { code: 'KV_FORBIDDEN', message: /unknown or was revoked/ }, 'an unknown token too');
});

t.test('a prefix the token may not read lists empty, or is KV_FORBIDDEN with the key-list policy', onlyDouble, async (t) => {
  for (const keyListPolicy of [false, true]) {
    const double = await startConsulDouble({ acl: { masterToken: 'root', keyListPolicy, tokens: { [TOKEN]: [{ prefix: 'other/', policy: 'read' }] } } });
    t.teardown(() => double.close());
    const admin = createConsulStore({ address: double.address, token: 'root' });
    const reader = createConsulStore({ address: double.address, token: TOKEN });
    t.teardown(() => Promise.all([admin.close(), reader.close()]));
    await admin.put('haproxy/a', '1');
    if (keyListPolicy) {
      await t.rejects(reader.list('haproxy/'), { code: 'KV_FORBIDDEN', message: /list "haproxy\/": permission denied \(the ACL token lacks permission to read the keys under "haproxy\/"/ });
    } else {
      t.same((await reader.list('haproxy/')).pairs, [], 'Consul filters what the token may not read: the list is empty');
    }
  }
});

t.test('X-Consul-KnownLeader: false is exposed on lists and watches', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  await store.put('haproxy/a', '1');
  t.equal((await store.list('haproxy/')).knownLeader, true);
  double.faults.knownLeader(false);
  const snap = await store.list('haproxy/');
  t.equal(snap.knownLeader, false);
  t.equal((await store.watch('haproxy/', snap.index, { signal: never(), waitMs: 100 })).knownLeader, false);
  double.faults.knownLeader(true);
  t.equal((await store.list('haproxy/')).knownLeader, true);
});

t.test('server errors, rate limits, refused connections and slow answers are told apart', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t, {}, { timeoutMs: 500 });
  await store.put('haproxy/a', '1');
  double.faults.fail(500, 1);
  t.equal((await store.get('haproxy/a'))?.value, '1', 'a read that got a 500 is sent again');
  double.faults.fail(500, 4);
  await t.rejects(store.get('haproxy/a'), { code: 'KV_SERVER', message: /get "haproxy\/a": server error 500/ }, 'until its 3 retries are spent');
  double.faults.fail(500, 1);
  await t.rejects(store.put('haproxy/a', '1'), { code: 'KV_SERVER' }, 'a write is never sent again');
  const snap = await store.list('haproxy/');
  double.faults.fail(503, 1);
  await t.rejects(store.watch('haproxy/', snap.index, { signal: never(), waitMs: 1000 }), { code: 'KV_SERVER' }, 'a watch throws; retrying is the caller’s job');
  double.faults.fail(429, 1);
  await t.rejects(store.put('haproxy/a', '2'), { code: 'KV_SERVER', message: /rate limited \(HTTP 429/ });
  double.faults.delay(5000);
  const started = Date.now();
  await t.rejects(store.get('haproxy/a'), { code: 'KV_UNREACHABLE', message: /timed out: no answer within 500 ms/ }, 'slower than the client timeout');
  t.ok(Date.now() - started < 4500, 'given up after the timeout, not after the answer (5 s)');
  double.faults.delay(0);
  await double.faults.refuseConnections(true);
  await t.rejects(store.get('haproxy/a'), { code: 'KV_UNREACHABLE', message: /ECONNREFUSED/ });
  await t.rejects(store.acquireLock('haproxy/.locks/a', { holder: 'me' }), { code: 'KV_UNREACHABLE' });
  await double.faults.refuseConnections(false);
  t.equal((await store.get('haproxy/a'))?.value, '1', 'and it works again afterwards');
});

t.test('a value over 512 KB is refused as a bad request', async (t) => {
  const target = await consulTarget();
  t.teardown(() => target.close());
  const store = createConsulStore({ address: target.address, env: target.env });
  t.teardown(() => store.close());
  const key = `${uniquePrefix()}big`;
  await t.rejects(store.put(key, 'x'.repeat(600 * 1024)), { code: 'KV_BAD_REQUEST', message: /put ".*big": refused as a bad request \(HTTP 413/ });
  t.equal(await store.get(key), undefined, 'nothing was written');
});

t.test('a lock is a session named after the key, TTL rounded up to 10 s, with its lock-delay and Behavior release', async (t) => {
  const target = await consulTarget();
  t.teardown(() => target.close());
  const a = createConsulStore({ address: target.address, env: target.env });
  const b = createConsulStore({ address: target.address, env: target.env });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const key = `${uniquePrefix()}.locks/mysqlslave/s1`;
  const lock = await a.acquireLock(key, { holder: 'db-check-1:4711', ttlMs: 2500, lockDelayMs: 1500 });
  t.ok(lock);
  t.teardown(() => lock?.release());
  const [info] = (await (await target.api(`/session/info/${lock!.session}`)).json()) as Record<string, unknown>[];
  t.match(info, { Name: `confd-haproxy lock ${key}`, TTL: '10s', Behavior: 'release', LockDelay: 1_500_000_000 });
  t.equal(await b.acquireLock(key, { holder: 'db-check-2:1', lockDelayMs: 0 }), undefined, 'refused while held');
  const all = (await (await target.api('/session/list')).json()) as { Name: string }[];
  t.equal(all.filter((s) => s.Name === `confd-haproxy lock ${key}`).length, 1, 'the refused attempt destroyed its session');
});

t.test('told the agent’s session_ttl_min, a store raises lock TTLs to it instead of to 10 s', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t, { sessionTtlMinMs: 1000 }, { sessionTtlMinMs: 1000 });
  const ttlOf = async (key: string, ttlMs: number) => {
    const lock = await store.acquireLock(key, { holder: 'me', ttlMs, lockDelayMs: 0 });
    t.teardown(() => lock?.release());
    const [info] = (await (await fetch(`http://${double.address}/v1/session/info/${lock!.session}`)).json()) as { TTL: string }[];
    return info!.TTL;
  };
  t.equal(await ttlOf('haproxy/.locks/short', 400), '1s', 'raised to the agent’s minimum');
  t.equal(await ttlOf('haproxy/.locks/long', 2500), '3s', 'above it, rounded up to whole seconds as before');
  t.throws(() => createConsulStore({ sessionTtlMinMs: 0 }), { code: 'KV_CONFIG', message: /session_ttl_min must be above 0 ms \(got 0\)/ });
});

t.test('renew is false once the key is no longer held by the lock’s session', async (t) => {
  const target = await consulTarget();
  t.teardown(() => target.close());
  const s = createConsulStore({ address: target.address, env: target.env });
  t.teardown(() => s.close());
  const key = `${uniquePrefix()}.locks/k`;
  const lock = (await s.acquireLock(key, { holder: 'me', lockDelayMs: 0 }))!;
  t.equal(await lock.renew(), true);
  await s.delete(key);
  t.equal(await lock.renew(), false, 'the key was deleted under it');
  const infos = (await (await target.api(`/session/info/${lock.session}`)).json()) as unknown[] | null;
  t.same(infos ?? [], [], 'and the useless session was destroyed');
  await lock.release();
});

t.test('renew is false once the session was invalidated', onlyDouble, async (t) => {
  const { double, store } = await doubleStore(t);
  const lock = (await store.acquireLock('haproxy/.locks/k', { holder: 'me', lockDelayMs: 0 }))!;
  double.expireSession(lock.session);
  t.equal(await lock.renew(), false);
  t.equal((await store.get('haproxy/.locks/k'))?.session, undefined, 'the key was released');
  await lock.release();
});

let openssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  openssl = false;
}
const tlsCase = realAgent ? onlyDouble : openssl ? {} : { skip: 'openssl is not installed to make a test certificate' };
t.test('an https agent is reached with CONSUL_CACERT and a client certificate', tlsCase, async (t) => {
  const dir = t.testdir({});
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=consul-test',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  // An https front for the double that insists on a client certificate, like a verify_incoming agent.
  const front = createHttpsServer({ cert, key, ca: cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const up = httpRequest({ host: '127.0.0.1', port: double.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { front.closeAllConnections(); front.close(() => r()); }));
  const port = (front.address() as AddressInfo).port;
  const tlsEnv = { CONSUL_HTTP_ADDR: `https://127.0.0.1:${port}`, CONSUL_CACERT: join(dir, 'cert.pem'), CONSUL_CLIENT_CERT: join(dir, 'cert.pem'), CONSUL_CLIENT_KEY: join(dir, 'key.pem') };
  const good = createConsulStore({ env: tlsEnv, timeoutMs: 3000 });
  t.teardown(() => good.close());
  t.equal(good.describe, `consul https://127.0.0.1:${port}`);
  t.equal(await good.put('haproxy/tls', 'ok'), true);
  t.equal((await good.get('haproxy/tls'))?.value, 'ok', 'talks TLS with the CA and client certificate from the env');
  const noCa = createConsulStore({ env: { ...tlsEnv, CONSUL_CACERT: undefined }, timeoutMs: 3000 });
  const noClientCert = createConsulStore({ env: { ...tlsEnv, CONSUL_CLIENT_CERT: undefined, CONSUL_CLIENT_KEY: undefined }, timeoutMs: 3000 });
  t.teardown(() => Promise.all([noCa.close(), noClientCert.close()]));
  await t.rejects(noCa.get('haproxy/tls'), { code: 'KV_UNREACHABLE', message: /certificate/i }, 'an untrusted server certificate is refused');
  await t.rejects(noClientCert.get('haproxy/tls'), { code: 'KV_UNREACHABLE' }, 'no client certificate: the agent hangs up');
  t.throws(() => createConsulStore({ env: { ...tlsEnv, CONSUL_CLIENT_KEY: undefined } }), { code: 'KV_CONFIG', message: /needs both/ });
  t.throws(() => createConsulStore({ env: { ...tlsEnv, CONSUL_CACERT: join(dir, 'nope.pem') } }), { code: 'KV_CONFIG', message: /cannot read the CA certificate file .*nope\.pem/ });
});
