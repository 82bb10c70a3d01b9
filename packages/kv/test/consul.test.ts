import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConsulStore, parseConsulAddressForTests, watchPrefix } from './helpers/consul-exports.js';
import { startConsulDouble } from '@confd-haproxy/testkit';
import { realAgent, uniquePrefix } from './helpers/consul.js';

// These cases inject faults or read what the server received: they need the double.
const onlyDouble = realAgent ? { skip: 'needs the Consul double (fault injection, request log); CONSUL_HTTP_ADDR is set' } : {};

const TOKEN = 'e95597e0-4045-11e7-a9ef-b6ba84687927';

t.test('an address is accepted with or without a scheme', async (t) => {
  t.same(parseConsulAddressForTests('127.0.0.1:8500'), { secure: false, host: '127.0.0.1', port: 8500 });
  t.same(parseConsulAddressForTests('http://consul.local:8600'), { secure: false, host: 'consul.local', port: 8600 });
  t.same(parseConsulAddressForTests('https://consul.local'), { secure: true, host: 'consul.local', port: 8501 });
  t.same(parseConsulAddressForTests('localhost', 'https'), { secure: true, host: 'localhost', port: 8501 });
  t.throws(() => parseConsulAddressForTests('ftp://x:1'), { code: 'KV_CONFIG' });
});

t.test('the token travels only in the X-Consul-Token header, from every source', onlyDouble, async (t) => {
  const double = await startConsulDouble({ acl: { tokens: { [TOKEN]: [{ prefix: '', policy: 'write' }] } } });
  t.teardown(() => double.close());
  const dir = t.testdir({});
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const stores = [
    createConsulStore({ address: double.address, token: TOKEN }),
    createConsulStore({ address: double.address, env: { CONSUL_HTTP_TOKEN: TOKEN } }),
    createConsulStore({ address: double.address, env: { CONSUL_HTTP_TOKEN_FILE: tokenFile } }),
    createConsulStore({ address: double.address, tokenFile }),
  ];
  for (const [i, s] of stores.entries()) {
    t.teardown(() => s.close());
    await s.put(`haproxy/t${i}`, 'v');
    await s.get(`haproxy/t${i}`);
    const snap = await s.list('haproxy/');
    await s.watch('haproxy/', snap.index, { signal: new AbortController().signal, waitMs: 1000 });
    const lock = await s.acquireLock(`haproxy/.locks/t${i}`, { holder: 'me', ttlMs: 10_000 });
    await lock?.renew();
    await lock?.release();
    await s.delete(`haproxy/t${i}`);
    t.notMatch(s.describe, TOKEN, 'describe never shows the token');
  }
  t.ok(double.requests.length >= 4 * 9, `the double saw ${double.requests.length} requests`);
  for (const r of double.requests) {
    t.notOk(r.url.includes(TOKEN), `no token in ${r.method} ${r.url}`);
    t.equal(r.headers['x-consul-token'], TOKEN, `token header on ${r.method} ${r.url.split('?')[0]}`);
  }
});

t.test('a blocking query never sends an index of 0 or below', onlyDouble, async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const store = createConsulStore({ address: double.address });
  t.teardown(() => store.close());
  const ac = new AbortController();
  await store.watch('haproxy/', 0, { signal: ac.signal, waitMs: 1000 });
  await store.watch('haproxy/', -5, { signal: ac.signal, waitMs: 1000 });
  for (const r of double.requests) {
    const idx = new URL(r.url, 'http://x').searchParams.get('index');
    if (idx !== null) t.ok(Number(idx) > 0, `index=${idx} sent`);
  }
  t.notOk(double.requests.some((r) => /[?&]index=(0|-)/.test(r.url)), 'no index ≤ 0 ever sent');
});

t.test('an index that goes backwards resets the watch, which then keeps working', onlyDouble, async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const store = createConsulStore({ address: double.address });
  t.teardown(() => store.close());
  for (let i = 0; i < 20; i++) await store.put(`haproxy/k${i % 3}`, `v${i}`);
  const before = await store.list('haproxy/');
  t.ok(before.index > 10);
  const ac = new AbortController();
  const pending = store.watch('haproxy/', before.index, { signal: ac.signal, waitMs: 20_000 });
  setTimeout(() => double.faults.resetIndex(), 200);
  const after = await pending;
  t.ok(after.index < before.index, `the index dropped from ${before.index} to ${after.index}`);
  t.same(after.pairs.map((p) => p.value), before.pairs.map((p) => p.value), 'with the data intact');
  const next = store.watch('haproxy/', after.index, { signal: ac.signal, waitMs: 20_000 });
  setTimeout(() => void store.put('haproxy/k0', 'fresh'), 200);
  t.equal((await next).pairs[0]?.value, 'fresh', 'a watch from the new index wakes on the next write');
});

t.test('watchPrefix backs off while the agent is down and recovers when it returns', onlyDouble, async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const store = createConsulStore({ address: double.address, timeoutMs: 1000 });
  t.teardown(() => store.close());
  await store.put('haproxy/a', '1');
  const ac = new AbortController();
  const errors: string[] = [];
  const seen: string[] = [];
  const loop = (async () => {
    for await (const snap of watchPrefix(store, 'haproxy/', {
      signal: ac.signal,
      waitMs: 1000,
      backoff: { baseMs: 50, maxMs: 400 },
      onError: (err) => errors.push((err as { code: string }).code),
    })) {
      seen.push(snap.pairs.map((p) => p.value).join());
      if (seen.length === 2) ac.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await double.faults.refuseConnections(true);
  await new Promise((r) => setTimeout(r, 1500));
  await double.faults.refuseConnections(false);
  await store.put('haproxy/a', '2');
  const timer = setTimeout(() => ac.abort(), 15_000);
  await loop;
  clearTimeout(timer);
  t.ok(errors.length >= 1, `errors reported while down: ${errors.length}`);
  t.ok(errors.every((c) => c === 'KV_UNREACHABLE'), 'as KV_UNREACHABLE');
  t.same(seen, ['1', '2'], 'and the watch carried on after');
});

t.test('an ACL denial surfaces as KV_FORBIDDEN with a clear message and no token', onlyDouble, async (t) => {
  const double = await startConsulDouble({
    acl: { tokens: { [TOKEN]: [{ prefix: 'haproxy/', policy: 'read' }], writer: [{ prefix: 'haproxy/', policy: 'write' }] } },
  });
  t.teardown(() => double.close());
  const reader = createConsulStore({ address: double.address, token: TOKEN });
  const writer = createConsulStore({ address: double.address, token: 'writer' });
  const anonymous = createConsulStore({ address: double.address });
  t.teardown(() => Promise.all([reader.close(), writer.close(), anonymous.close()]));
  await writer.put('haproxy/mysqlslave/s1', '{}');
  t.equal((await reader.list('haproxy/')).pairs.length, 1, 'read is allowed');
  const err = await reader.put('haproxy/mysqlslave/s1', 'x').catch((e: unknown) => e);
  t.match(err, { code: 'KV_FORBIDDEN', message: /put "haproxy\/mysqlslave\/s1": permission denied \(the ACL token lacks permission/ });
  t.notMatch((err as Error).message, TOKEN);
  await t.rejects(anonymous.list('haproxy/'), { code: 'KV_FORBIDDEN' }, 'no token: denied');
  double.revokeToken(TOKEN);
  await t.rejects(reader.list('haproxy/'), { code: 'KV_FORBIDDEN', message: /unknown or was revoked/ }, 'a revoked token is named as such');
});

t.test('a missing leader, server errors, refused connections and slow answers are told apart', onlyDouble, async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const store = createConsulStore({ address: double.address, timeoutMs: 500 });
  t.teardown(() => store.close());
  await store.put('haproxy/a', '1');
  double.faults.knownLeader(false);
  t.equal((await store.list('haproxy/')).knownLeader, false, 'X-Consul-KnownLeader: false is exposed');
  double.faults.knownLeader(true);
  double.faults.fail(500, 1);
  await t.rejects(store.get('haproxy/a'), { code: 'KV_SERVER' });
  double.faults.fail(429, 1);
  await t.rejects(store.get('haproxy/a'), { code: 'KV_SERVER', message: /429|rate/ });
  double.faults.delay(1500);
  await t.rejects(store.get('haproxy/a'), { code: 'KV_UNREACHABLE' }, 'slower than the client timeout');
  double.faults.delay(0);
  await double.faults.refuseConnections(true);
  await t.rejects(store.get('haproxy/a'), { code: 'KV_UNREACHABLE' });
  await double.faults.refuseConnections(false);
  t.equal((await store.get('haproxy/a'))?.value, '1', 'and it works again afterwards');
});

t.test('a value over 512 KB is refused as a bad request', async (t) => {
  const double = realAgent ? undefined : await startConsulDouble();
  t.teardown(() => double?.close());
  const store = createConsulStore({ address: realAgent ?? double!.address, env: { CONSUL_HTTP_TOKEN: process.env.CONSUL_HTTP_TOKEN } });
  t.teardown(() => store.close());
  await t.rejects(store.put(`${uniquePrefix()}big`, 'x'.repeat(600 * 1024)), { code: 'KV_BAD_REQUEST' });
});
