// The Consul double against raw HTTP: it must answer the way Consul's API documentation says.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startConsulDouble, type AclRule, type ConsulDouble, type ConsulDoubleOptions } from '@confd-haproxy/testkit';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// One double for the plain cases (tap runs files in parallel, each double on a free port).
const double = await startConsulDouble();
t.teardown(() => double.close());

const client = (d: ConsulDouble) => (path: string, init?: RequestInit) => fetch(`${d.url}/v1${path}`, init);
const api = client(double);
const put = async (path: string, body = '', headers?: Record<string, string>) => (await api(path, { method: 'PUT', body, ...(headers ? { headers } : {}) })).json();
const index = (res: Response) => Number(res.headers.get('x-consul-index'));
type Entry = { Key: string; Value: string | null; Flags: number; LockIndex: number; ModifyIndex: number; CreateIndex: number; Session?: string };
const entries = async (path: string) => (await (await api(path)).json()) as Entry[];
const session = async (d: ConsulDouble, body: Record<string, unknown>) =>
  ((await (await client(d)('/session/create', { method: 'PUT', body: JSON.stringify(body) })).json()) as { ID: string }).ID;

async function ownDouble(t: Test, opts: ConsulDoubleOptions = {}) {
  const d = await startConsulDouble(opts);
  t.teardown(() => d.close());
  return d;
}

t.test('a missing key is a 404 with an empty body and the index headers', async (t) => {
  const res = await api('/kv/nothing/here');
  t.equal(res.status, 404);
  t.equal(await res.text(), '');
  t.ok(index(res) >= 1, 'X-Consul-Index is at least 1');
  t.equal(res.headers.get('x-consul-knownleader'), 'true');
  t.equal(res.headers.get('x-consul-lastcontact'), '0');
  for (const [what, r] of [
    ['a PUT', await api('/kv/hdr', { method: 'PUT', body: 'v' })],
    ['a 400', await api('/kv/hdr?cas=0&release=x', { method: 'PUT', body: 'v' })],
    ['a session call', await api('/session/list')],
  ] as const) {
    t.ok(index(r) >= 1, `${what} carries X-Consul-Index`);
    t.ok(r.headers.has('x-consul-knownleader') && r.headers.has('x-consul-lastcontact'), `${what} carries KnownLeader and LastContact`);
  }
});

t.test('raw, keys and separator read like Consul', async (t) => {
  for (const k of ['svc/a/x', 'svc/a/y', 'svc/b', 'svc%2Fenc/z']) await api(`/kv/${k}`, { method: 'PUT', body: `value of ${k}` });
  const raw = await api('/kv/svc/b?raw');
  t.equal(await raw.text(), 'value of svc/b', '?raw is the value bytes');
  t.match(raw.headers.get('content-type'), /^text\/plain/);
  t.same(await (await api('/kv/svc/?keys')).json(), ['svc/a/x', 'svc/a/y', 'svc/b', 'svc/enc/z'], 'keys are percent-decoded');
  t.same(await (await api('/kv/svc/?keys&separator=/')).json(), ['svc/a/', 'svc/b', 'svc/enc/'], '?separator stops at the separator');
  t.same(await (await api('/kv/svc/?keys&seperator=/')).json(), ['svc/a/', 'svc/b', 'svc/enc/'], 'and so does its historic misspelling');
  t.equal((await api('/kv/nope/?keys')).status, 404, 'an empty key listing is a 404');
  const [entry] = await entries('/kv/svc/b');
  t.equal(Buffer.from(entry!.Value!, 'base64').toString(), 'value of svc/b', 'Value is base64');
  t.notOk('Session' in entry!, 'no Session field on an unlocked key');
  await api('/kv/empty', { method: 'PUT', body: '' });
  t.equal((await entries('/kv/empty'))[0]!.Value, null, 'an empty value is null');
  t.same((await entries('/kv/svc/?recurse')).map((e) => e.Key), ['svc/a/x', 'svc/a/y', 'svc/b', 'svc/enc/z'], '?recurse lists the prefix, sorted');
  t.equal((await api('/kv/?raw')).status, 400, 'a GET without a key and without ?recurse is a 400');
});

t.test('cas, flags and delete answer true or false as Consul does', async (t) => {
  t.equal(await put('/kv/c/k?cas=0', 'one'), true, 'cas=0 creates');
  t.equal(await put('/kv/c/k?cas=0', 'two'), false, 'cas=0 refuses an existing key');
  const [e1] = await entries('/kv/c/k');
  t.equal(await put(`/kv/c/k?cas=${e1!.ModifyIndex + 1000}`, 'x'), false, 'a wrong index is refused');
  t.equal(await put(`/kv/c/k?cas=${e1!.ModifyIndex}&flags=7`, 'three'), true, 'the current index wins');
  const [e2] = await entries('/kv/c/k');
  t.equal(e2!.Flags, 7);
  t.equal(e2!.CreateIndex, e1!.CreateIndex, 'CreateIndex stays');
  t.ok(e2!.ModifyIndex > e1!.ModifyIndex, 'ModifyIndex grows');
  t.equal(await put('/kv/c/k', 'four'), true);
  t.equal((await entries('/kv/c/k'))[0]!.Flags, 0, 'a write without ?flags sets them to 0');
  t.equal(await put('/kv/c/absent?cas=5', 'x'), false, 'cas=n on an absent key is refused');
  t.equal(await (await api(`/kv/c/k?cas=${e1!.ModifyIndex}`, { method: 'DELETE' })).json(), false, 'a delete with a stale cas is refused');
  t.equal(await (await api('/kv/c/never?cas=3', { method: 'DELETE' })).json(), true, 'a delete-cas of an absent key succeeds');
  const before = index(await api('/kv/c/?recurse'));
  t.equal(await (await api('/kv/c/k', { method: 'DELETE' })).json(), true);
  const after = await api('/kv/c/?recurse');
  t.equal(after.status, 404);
  t.ok(index(after) > before, `the delete raised the prefix index (tombstone): ${index(after)} > ${before}`);
  await put('/kv/t/a', '1');
  await put('/kv/t/b/c', '2');
  t.equal(await (await api('/kv/t/?recurse', { method: 'DELETE' })).json(), true);
  t.equal((await api('/kv/t/?recurse')).status, 404, '?recurse deletes the tree');
});

t.test('conflicting flags are a 400, a body over 512 KB a 413, a missing key a 400', async (t) => {
  const conflict = await api('/kv/x?cas=0&acquire=abc', { method: 'PUT', body: 'v' });
  t.equal(conflict.status, 400);
  t.match(await conflict.text(), /^Conflicting flags: /);
  t.equal((await api('/kv/x?acquire=a&release=b', { method: 'PUT', body: 'v' })).status, 400);
  t.equal((await api('/kv/x?recurse&cas=1', { method: 'DELETE' })).status, 400);
  const big = await api('/kv/x', { method: 'PUT', body: 'v'.repeat(513 * 1024) });
  t.equal(big.status, 413);
  t.match(await big.text(), /too large, max size: 524288 bytes/);
  t.equal((await api('/kv/x')).status, 404, 'nothing was written');
  t.equal((await api('/kv/x', { method: 'PUT', body: 'v'.repeat(512 * 1024) })).status, 200, 'exactly 512 KB is fine');
  t.equal((await api('/kv/', { method: 'PUT', body: 'v' })).status, 400);
  t.equal((await api('/kv/x?index=abc')).status, 400, 'a bad index is a 400');
  t.equal((await api('/kv/x?index=1&wait=soon')).status, 400, 'a bad wait is a 400');
});

t.test('a blocking query is held until the index passes, and answers unchanged when the wait runs out', async (t) => {
  const d = await ownDouble(t);
  const api = client(d);
  await api('/kv/b/k', { method: 'PUT', body: 'v1' });
  const first = await api('/kv/b/?recurse');
  const idx = index(first);
  let started = Date.now();
  const held = api(`/kv/b/?recurse&index=${idx}&wait=10s`);
  for (let i = 0; i < 500 && d.blockedQueries === 0; i++) await sleep(20);
  t.equal(d.blockedQueries, 1, 'the query is held');
  await api('/kv/other/k', { method: 'PUT', body: 'x' });
  await sleep(100);
  t.equal(d.blockedQueries, 1, 'a write elsewhere does not answer it');
  await api('/kv/b/k', { method: 'PUT', body: 'v2' });
  const woke = await held;
  t.ok(Date.now() - started < 5000, 'woken by the write');
  t.ok(index(woke) > idx);
  t.equal(Buffer.from(((await woke.json()) as Entry[])[0]!.Value!, 'base64').toString(), 'v2');

  const now = index(woke);
  started = Date.now();
  const timedOut = await api(`/kv/b/?recurse&index=${now}&wait=800ms`);
  const took = Date.now() - started;
  t.ok(took >= 790 && took < 800 + 800 / 16 + 400, `held for the wait plus at most wait/16 of jitter (${took} ms)`);
  t.equal(timedOut.status, 200);
  t.equal(index(timedOut), now, 'same index when nothing changed');

  const delHeld = api(`/kv/b/?recurse&index=${now}&wait=10s`);
  await sleep(100);
  await api('/kv/b/k', { method: 'DELETE' });
  const afterDelete = await delHeld;
  t.equal(afterDelete.status, 404, 'a delete wakes it too');
  t.ok(index(afterDelete) > now, 'the index of a recursive read counts deletes');

  const single = index(await api('/kv/b/none'));
  t.ok(single >= 1);
  t.equal(index(await api(`/kv/b/?recurse&index=0&wait=10s`)), index(afterDelete), 'index=0 answers at once');
});

t.test('an index reset answers held queries at once with a lower index; an early wake-up changes nothing', async (t) => {
  const d = await ownDouble(t);
  const api = client(d);
  for (let i = 0; i < 10; i++) await api(`/kv/r/k${i % 2}`, { method: 'PUT', body: `v${i}` });
  const idx = index(await api('/kv/r/?recurse'));
  const early = api(`/kv/r/?recurse&index=${idx}&wait=30s`);
  await sleep(100);
  d.faults.wakeBlockedQueries();
  t.equal(index(await early), idx, 'an early answer with the same index');
  const held = api(`/kv/r/?recurse&index=${idx}&wait=30s`);
  await sleep(100);
  d.faults.resetIndex();
  const res = await held;
  t.ok(index(res) < idx, `the index went backwards: ${index(res)} < ${idx}`);
  t.same(((await res.json()) as Entry[]).map((e) => e.Key), ['r/k0', 'r/k1'], 'the data is intact');
});

t.test('a session TTL outside 10s..24h is refused; renew, info and destroy work', async (t) => {
  for (const ttl of ['5s', '86401s', 'soon']) {
    const bad = await api('/session/create', { method: 'PUT', body: JSON.stringify({ TTL: ttl }) });
    t.equal(bad.status, 400, `TTL ${ttl} is refused`);
    t.match(await bad.text(), /Invalid Session TTL/);
  }
  t.equal((await api('/session/create', { method: 'PUT', body: JSON.stringify({ Behavior: 'explode' }) })).status, 400, 'an unknown Behavior is refused');
  for (const ttl of ['10s', '24h', undefined]) t.ok(await session(double, ttl ? { TTL: ttl } : {}), `TTL ${ttl ?? 'none'} is accepted`);
  const id = await session(double, { Name: 'n1', TTL: '10s', LockDelay: '1s', Behavior: 'delete' });
  const [info] = (await (await api(`/session/info/${id}`)).json()) as Record<string, unknown>[];
  t.match(info, { ID: id, Name: 'n1', TTL: '10s', LockDelay: 1_000_000_000, Behavior: 'delete' });
  t.equal((await api(`/session/renew/${id}`, { method: 'PUT' })).status, 200);
  t.equal((await api('/session/renew/not-a-session', { method: 'PUT' })).status, 404);
  t.equal(await (await api(`/session/destroy/${id}`, { method: 'PUT' })).json(), true);
  t.same(await (await api(`/session/info/${id}`)).json(), []);
  t.equal((await api(`/session/renew/${id}`, { method: 'PUT' })).status, 404, 'a destroyed session cannot be renewed');
});

t.test('session_ttl_min sets the shortest TTL accepted, as on an agent; a TTL of 0 is no TTL', async (t) => {
  const refused = await api('/session/create', { method: 'PUT', body: JSON.stringify({ TTL: '5s' }) });
  t.equal(await refused.text(), "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]", 'the default minimum is 10 s, named as Consul names it');
  const d = await ownDouble(t, { sessionTtlMinMs: 500 });
  const lowered = await client(d)('/session/create', { method: 'PUT', body: JSON.stringify({ TTL: '499ms' }) });
  t.equal(lowered.status, 400, 'below the configured minimum is refused');
  t.equal(await lowered.text(), "Invalid Session TTL '499000000', must be between [500ms=24h0m0s]");
  const id = await session(d, { TTL: '500ms' });
  t.ok(id, 'the minimum itself is accepted');
  const [info] = (await (await client(d)(`/session/info/${id}`)).json()) as Record<string, unknown>[];
  t.equal(info!.TTL, '500ms', 'and shown as the client wrote it');
  const forever = await session(double, { TTL: '0s' });
  t.ok(forever, 'TTL 0s is accepted');
  const [none] = (await (await api(`/session/info/${forever}`)).json()) as Record<string, unknown>[];
  t.equal(none!.TTL, '0s');
});

t.test('acquire and release follow the session; LockIndex counts acquisitions', async (t) => {
  const s1 = await session(double, { LockDelay: '0s' });
  const s2 = await session(double, { LockDelay: '0s' });
  t.equal((await api('/kv/l/k?acquire=no-such-session', { method: 'PUT', body: 'x' })).status, 500, 'an unknown session is an error');
  t.equal(await put(`/kv/l/k?acquire=${s1}`, 'one'), true);
  let [e] = await entries('/kv/l/k');
  t.match(e, { Session: s1, LockIndex: 1 });
  t.equal(await put(`/kv/l/k?acquire=${s1}`, 'one again'), true, 'the holder may acquire again');
  [e] = await entries('/kv/l/k');
  t.match(e, { Session: s1, LockIndex: 1 }, 'without counting a new acquisition');
  t.equal(await put(`/kv/l/k?acquire=${s2}`, 'two'), false, 'another session is refused');
  t.equal(await put(`/kv/l/k?release=${s2}`, 'two'), false, 'and cannot release it');
  t.equal(await put('/kv/l/k', 'plain'), true, 'a plain write keeps the lock');
  t.equal((await entries('/kv/l/k'))[0]!.Session, s1);
  t.equal(await put(`/kv/l/k?release=${s1}`, 'free'), true);
  t.equal(await put(`/kv/l/k?acquire=${s2}`, 'two'), true, 'taken at once after a release');
  t.equal((await entries('/kv/l/k'))[0]!.LockIndex, 2);
});

t.test('an invalidated session releases its lock and starts lock-delay; a release does not', async (t) => {
  const s1 = await session(double, { TTL: '10s', LockDelay: '1s' });
  const s2 = await session(double, { TTL: '10s', LockDelay: '0s' });
  t.equal(await put(`/kv/lock/a?acquire=${s1}`, 'one'), true);
  t.equal(await put(`/kv/lock/a?acquire=${s2}`, 'two'), false, 'held');
  const expired = Date.now();
  double.expireSession(s1);
  const [entry] = await entries('/kv/lock/a');
  t.equal(entry!.Session, undefined, 'released on invalidation');
  t.equal(await put(`/kv/lock/a?acquire=${s2}`, 'two'), false, 'lock-delay holds it free');
  let taken = false;
  while (!taken && Date.now() - expired < 5000) {
    await sleep(20);
    taken = (await put(`/kv/lock/a?acquire=${s2}`, 'two')) === true;
  }
  t.ok(taken, 'taken after lock-delay');
  t.ok(Date.now() - expired >= 1000, `not before the 1 s lock-delay ran out (${Date.now() - expired} ms)`);
  t.equal(await put(`/kv/lock/a?release=${s2}`, 'two'), true);
  const s3 = await session(double, { LockDelay: '15s' });
  t.equal(await put(`/kv/lock/a?acquire=${s3}`, 'three'), true, 'an explicit release starts no lock-delay');
  await api(`/session/destroy/${s3}`, { method: 'PUT' });
  const s4 = await session(double, {});
  t.equal(await put(`/kv/lock/a?acquire=${s4}`, 'four'), false, 'destroying a holding session starts lock-delay');
  const s5 = await session(double, { Behavior: 'delete', LockDelay: '0s' });
  await put(`/kv/lock/del?acquire=${s5}`, 'x');
  double.expireAllSessions();
  t.equal((await api('/kv/lock/del')).status, 404, 'Behavior delete deletes the key');
});

t.test('a session without renew is invalidated between TTL and 2×TTL', async (t) => {
  // session_ttl_min lowered as an operator may configure an agent, so the TTL can be short.
  const ttl = 500;
  const d = await ownDouble(t, { sessionTtlMinMs: ttl });
  const started = Date.now();
  const id = await session(d, { TTL: `${ttl}ms`, LockDelay: '0s' });
  await client(d)(`/kv/ttl?acquire=${id}`, { method: 'PUT', body: 'x' });
  let gone: number | undefined;
  while (gone === undefined && Date.now() - started < 2 * ttl + 1000) {
    await sleep(10);
    const [e] = (await (await client(d)('/kv/ttl')).json()) as Entry[];
    if (!e?.Session) gone = Date.now() - started;
  }
  t.ok(gone !== undefined && gone >= ttl && gone <= 2 * ttl + 500, `invalidated after ${gone} ms (TTL ${ttl} ms)`);
});

t.test('ACL: tokens from the header, a Bearer header or ?token=, longest prefix wins', async (t) => {
  const d = await ownDouble(t, {
    acl: {
      enabled: true,
      masterToken: 'root',
      anonymous: [{ prefix: 'public/', policy: 'read' }],
      tokens: {
        app: { rules: [{ prefix: 'app/', policy: 'write' }, { prefix: 'app/ro/', policy: 'read' }, { prefix: 'app/secret/', policy: 'deny' }] },
      },
    },
  });
  const api = client(d);
  const as = (token: string) => ({ 'X-Consul-Token': token });
  t.equal((await api('/kv/app/x', { method: 'PUT', body: '1', headers: as('app') })).status, 200, 'write under app/');
  t.equal((await api('/kv/app/y', { method: 'PUT', body: '1', headers: { Authorization: 'Bearer app' } })).status, 200, 'Authorization: Bearer');
  t.equal((await api('/kv/app/z?token=app', { method: 'PUT', body: '1' })).status, 200, '?token=');
  const ro = await api('/kv/app/ro/k', { method: 'PUT', body: '1', headers: as('app') });
  t.equal(ro.status, 403, 'read-only below app/ro/');
  t.equal(await ro.text(), 'Permission denied');
  await api('/kv/app/ro/k', { method: 'PUT', body: '1', headers: as('root') });
  await api('/kv/app/secret/k', { method: 'PUT', body: '1', headers: as('root') });
  t.equal((await api('/kv/app/ro/k', { headers: as('app') })).status, 200, 'but readable');
  t.equal((await api('/kv/app/secret/k', { headers: as('app') })).status, 403, 'deny wins below app/secret/');
  t.same(((await (await api('/kv/app/?recurse', { headers: as('app') })).json()) as Entry[]).map((e) => e.Key), ['app/ro/k', 'app/x', 'app/y', 'app/z'], 'a list leaves out what the token may not read');
  t.equal((await api('/kv/app/?recurse', { method: 'DELETE', headers: as('app') })).status, 403, 'a recursive delete needs write on everything under the prefix');
  t.equal((await api('/kv/app/x', { headers: {} })).status, 403, 'no token: the anonymous rules');
  t.equal((await api('/kv/public/x')).status, 404, 'which may read public/');
  const unknown = await api('/kv/app/x', { headers: as('nobody') });
  t.equal(unknown.status, 403);
  t.equal(await unknown.text(), 'ACL not found', 'an unknown token');
  d.revokeToken('app');
  t.equal(await (await api('/kv/app/x', { headers: as('app') })).text(), 'ACL not found', 'a revoked token');
  t.equal((await api('/session/create', { method: 'PUT', body: '{}', headers: as('app') })).status, 403, 'on every endpoint');
  const open = await ownDouble(t, { acl: { enabled: false, tokens: {} } });
  t.equal((await client(open)('/kv/x', { method: 'PUT', body: '1', headers: as('anything') })).status, 200, 'enabled: false lets everything through');
});

/** A double with ACLs on (default deny) and these tokens; `as(token)` calls its HTTP API with one (or none). */
async function aclDouble(t: Test, tokens: Record<string, AclRule[]>, opts: ConsulDoubleOptions = {}) {
  const d = await ownDouble(t, { ...opts, acl: { masterToken: 'root', tokens } });
  const as =
    (token?: string) =>
    (path: string, init: { method?: string; body?: unknown } = {}) =>
      fetch(`${d.url}/v1${path}`, {
        method: init.method ?? 'GET',
        ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
        headers: token ? { 'X-Consul-Token': token } : {},
      });
  return { d, as };
}
const filtered = (res: Response) => res.headers.get('x-consul-results-filtered-by-acls') === 'true';

t.test('ACL: a recursive delete needs write from a prefix rule on the whole prefix; a key rule is not enough', async (t) => {
  const { as } = await aclDouble(t, {
    // A checker's token: its own entry, by an exact key rule.
    checker: [{ prefix: 'haproxy/memcached/mem11211', exact: true, policy: 'write' }],
    owner: [{ prefix: 'app/', policy: 'write' }],
    mixed: [{ prefix: 'app/', policy: 'write' }, { prefix: 'app/keep', exact: true, policy: 'read' }],
  });
  const root = as('root');
  for (const k of ['haproxy/memcached/mem11211', 'haproxy/memcached/mem112110', 'haproxy/memcached/mem11211/x', 'app/a', 'app/keep']) await root(`/kv/${k}`, { method: 'PUT', body: 'v' });
  const checker = as('checker');
  const del = await checker('/kv/haproxy/memcached/mem11211?recurse', { method: 'DELETE' });
  t.equal(del.status, 403, "the checker's key rule does not cover the keys that start with its key");
  t.equal(await del.text(), 'Permission denied');
  const keys = async () => (await (await root('/kv/?keys')).json()) as string[];
  t.same(await keys(), ['app/a', 'app/keep', 'haproxy/memcached/mem11211', 'haproxy/memcached/mem11211/x', 'haproxy/memcached/mem112110'], 'nothing was deleted');
  t.equal((await checker('/kv/haproxy/?recurse', { method: 'DELETE' })).status, 403, 'nor may it empty haproxy/');
  t.equal((await checker('/kv/?recurse', { method: 'DELETE' })).status, 403, 'nor the whole store');
  t.equal((await checker('/kv/haproxy/memcached/mem11211', { method: 'DELETE' })).status, 200, 'its own key it may delete');
  t.equal((await as('mixed')('/kv/app/?recurse', { method: 'DELETE' })).status, 403, 'a rule under the prefix that does not grant write refuses the recursive delete');
  t.equal((await as('owner')('/kv/app/?recurse', { method: 'DELETE' })).status, 200, 'write on the whole prefix allows it');
  t.same(await keys(), ['haproxy/memcached/mem11211/x', 'haproxy/memcached/mem112110']);
});

t.test('ACL: sessions need session write on their node to be created, renewed or destroyed, and session read to be seen', async (t) => {
  const { as } = await aclDouble(
    t,
    {
      lb: [{ resource: 'session', prefix: 'lb1', exact: true, policy: 'write' }],
      db: [{ resource: 'session', prefix: 'db1', exact: true, policy: 'write' }],
      auditor: [{ resource: 'session', prefix: '', policy: 'read' }],
      // The exact rule wins over the prefix rule for its node.
      allButDb: [{ resource: 'session', prefix: '', policy: 'write' }, { resource: 'session', prefix: 'db1', exact: true, policy: 'deny' }],
      entries: [{ prefix: '', policy: 'write' }],
    },
    { nodeName: 'lb1' },
  );
  const root = as('root');
  // A second node with the check a session needs, as an agent on another host would have.
  t.equal((await root('/catalog/register', { method: 'PUT', body: { Node: 'db1', Address: '10.0.0.2', Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' } } })).status, 200);
  const create = async (token: string | undefined, body: Record<string, unknown> = {}) => {
    const res = await as(token)('/session/create', { method: 'PUT', body });
    return { status: res.status, id: res.status === 200 ? ((await res.json()) as { ID: string }).ID : await res.text() };
  };
  const lbSession = await create('lb', { Name: 'status' });
  t.equal(lbSession.status, 200, "session write on the agent's node creates a session");
  t.match((await (await root(`/session/info/${lbSession.id}`)).json()) as unknown[], [{ Node: 'lb1', NodeChecks: ['serfHealth'] }], "and the session is on the agent's node");
  t.same(await create('lb', { Node: 'db1' }), { status: 403, id: 'Permission denied' }, 'not on another node');
  const dbSession = await create('db', { Node: 'db1', Name: 'lock' });
  t.equal(dbSession.status, 200, 'a token for db1 creates one there');
  t.equal((await create(undefined)).status, 403, 'no token: the anonymous token has no session rules');
  t.equal((await create('entries')).status, 403, 'key rules, even write on everything, give no session');
  const prefixed = await create('allButDb');
  t.equal(prefixed.status, 200, 'a session_prefix rule covers every node');
  t.equal((await create('allButDb', { Node: 'db1' })).status, 403, 'but an exact deny for a node wins over it');
  t.same(await create('root', { Node: 'ghost' }), { status: 500, id: 'Missing node registration' }, 'a session needs a registered node');

  const listed = async (token: string | undefined) => {
    const res = await as(token)('/session/list');
    return { ids: ((await res.json()) as { ID: string }[]).map((s) => s.ID).sort(), filtered: filtered(res) };
  };
  const all = (await listed('root')).ids;
  t.equal(all.length, 3);
  t.same(await listed('auditor'), { ids: all, filtered: false }, 'session read on every node lists them all');
  t.same((await listed('lb')).ids, [lbSession.id, prefixed.id].sort(), "a node's token lists only that node's sessions");
  t.ok((await listed('lb')).filtered, 'and the answer says it was filtered');
  t.same(await listed(undefined), { ids: [], filtered: true }, 'no token lists none');
  t.same(await (await as('lb')(`/session/info/${dbSession.id}`)).json(), [], "another node's session reads as absent");
  t.equal(((await (await as('auditor')(`/session/info/${dbSession.id}`)).json()) as unknown[]).length, 1);

  for (const [who, token] of [['no token', undefined], ['a read-only token', 'auditor'], ["another node's token", 'lb'], ['a key-only token', 'entries']] as const) {
    t.equal((await as(token)(`/session/destroy/${dbSession.id}`, { method: 'PUT' })).status, 403, `${who} cannot destroy it`);
    t.equal((await as(token)(`/session/renew/${dbSession.id}`, { method: 'PUT' })).status, 403, `${who} cannot renew it`);
  }
  t.ok((await listed('root')).ids.includes(dbSession.id), 'the session lives on');
  t.equal((await as('db')(`/session/renew/${dbSession.id}`, { method: 'PUT' })).status, 200, 'its own node renews it');
  t.equal(await (await as('db')(`/session/destroy/${dbSession.id}`, { method: 'PUT' })).json(), true, 'and destroys it');
  t.equal(await (await as(undefined)('/session/destroy/00000000-0000-4000-8000-000000000000', { method: 'PUT' })).json(), true, 'destroying an unknown session is true, as on Consul');
});

t.test('ACL: acquiring a lock needs key write, whoever owns the session', async (t) => {
  const { as } = await aclDouble(t, {
    locker: [{ prefix: 'locks/mine', exact: true, policy: 'write' }, { resource: 'session', prefix: 'consul-double', exact: true, policy: 'write' }],
  });
  const locker = as('locker');
  const id = ((await (await locker('/session/create', { method: 'PUT', body: { LockDelay: '0s' } })).json()) as { ID: string }).ID;
  t.equal(await (await locker(`/kv/locks/mine?acquire=${id}`, { method: 'PUT', body: 'me' })).json(), true);
  t.equal((await locker(`/kv/locks/theirs?acquire=${id}`, { method: 'PUT', body: 'me' })).status, 403, 'not a key it may not write');
  t.equal((await as(undefined)(`/kv/locks/mine?release=${id}`, { method: 'PUT', body: 'me' })).status, 403, 'a release needs key write too');
});

t.test('ACL: registering a service needs service write; the catalog needs node write to add or change a node', async (t) => {
  const { as } = await aclDouble(t, {
    web: [{ resource: 'service', prefix: 'web', exact: true, policy: 'write' }],
    ext: [{ resource: 'node', prefix: 'ext1', exact: true, policy: 'write' }, { resource: 'service', prefix: 'web', exact: true, policy: 'write' }],
    reader: [{ prefix: '', policy: 'read' }],
  });
  const register = { Name: 'web', ID: 'web-1', Port: 8080, Check: { TTL: '60s', Status: 'passing' } };
  const anon = await as(undefined)('/agent/service/register', { method: 'PUT', body: register });
  t.equal(anon.status, 403, 'no token registers no service');
  t.equal(await anon.text(), 'Permission denied');
  t.equal((await as('reader')('/agent/service/register', { method: 'PUT', body: register })).status, 403, 'nor does a key reader');
  t.equal((await as('web')('/agent/service/register', { method: 'PUT', body: { ...register, Name: 'api', ID: 'api-1' } })).status, 403, 'service write on web is not on api');
  t.equal((await as('web')('/agent/service/register', { method: 'PUT', body: register })).status, 200, 'service write on web registers web');
  t.equal((await as('root')('/agent/service/register', { method: 'PUT', body: { Name: 'api', ID: 'api-1', Port: 9090 } })).status, 200);
  t.equal((await as('web')('/agent/service/register', { method: 'PUT', body: { ...register, ID: 'api-1' } })).status, 403, 'nor may it take over the ID of a service it may not write');
  t.equal((await as(undefined)('/agent/check/fail/service:web-1', { method: 'PUT' })).status, 403, "no token cannot fail the service's check");
  t.equal((await as('web')('/agent/check/warn/service:web-1', { method: 'PUT' })).status, 200, 'its writer can');
  t.equal((await as('reader')('/agent/service/deregister/web-1', { method: 'PUT' })).status, 403, 'a reader cannot deregister it');

  const external = { Node: 'ext1', Address: '10.0.0.9', Service: { Service: 'web', ID: 'web-ext', Port: 80 } };
  t.equal((await as('web')('/catalog/register', { method: 'PUT', body: external })).status, 403, 'a new node needs node write');
  t.equal((await as('ext')('/catalog/register', { method: 'PUT', body: external })).status, 200, 'node and service write register it');
  t.equal((await as('web')('/catalog/register', { method: 'PUT', body: external })).status, 200, 'the same node again needs only service write');
  t.equal((await as('web')('/catalog/register', { method: 'PUT', body: { ...external, Address: '10.6.6.6' } })).status, 403, 'changing the node needs node write');
  t.equal((await as('web')('/catalog/register', { method: 'PUT', body: { ...external, Check: { CheckID: 'node-ok', Status: 'passing' } } })).status, 403, 'and so does a node check');
  t.equal((await as('web')('/catalog/register', { method: 'PUT', body: { Node: 'ext1', Address: '10.0.0.9', Service: { Service: 'api', ID: 'web-ext', Port: 80 } } })).status, 403, 'renaming a service needs write on the new name');
  t.equal((await as('web')('/catalog/deregister', { method: 'PUT', body: { Node: 'ext1' } })).status, 403, 'removing the node needs node write');
  t.equal((await as('web')('/catalog/deregister', { method: 'PUT', body: { Node: 'ext1', ServiceID: 'web-ext' } })).status, 200, 'removing its service needs service write');
  t.equal((await as('ext')('/catalog/deregister', { method: 'PUT', body: { Node: 'ext1' } })).status, 200);
});

t.test('ACL: health and services leave out what the token may not read', async (t) => {
  const { as } = await aclDouble(t, {
    services: [{ resource: 'service', prefix: '', policy: 'read' }],
    catalog: [{ resource: 'service', prefix: '', policy: 'read' }, { resource: 'node', prefix: '', policy: 'read' }],
    webOnly: [{ resource: 'service', prefix: 'web', exact: true, policy: 'read' }, { resource: 'node', prefix: '', policy: 'read' }],
    notDb: [{ resource: 'service', prefix: '', policy: 'read' }, { resource: 'node', prefix: '', policy: 'read' }, { resource: 'node', prefix: 'db', policy: 'deny' }],
  });
  const root = as('root');
  await root('/agent/service/register', { method: 'PUT', body: { Name: 'web', ID: 'web-1', Port: 8080 } });
  await root('/agent/service/register', { method: 'PUT', body: { Name: 'api', ID: 'api-1', Port: 9090 } });
  await root('/catalog/register', { method: 'PUT', body: { Node: 'db9', Address: '10.0.0.9', Service: { Service: 'web', ID: 'web-9', Port: 80 } } });
  const health = async (token: string | undefined) => {
    const res = await as(token)('/health/service/web');
    t.equal(res.status, 200, 'a filtered read is no error');
    return { nodes: ((await res.json()) as { Node: { Node: string } }[]).map((e) => e.Node.Node), filtered: filtered(res) };
  };
  t.same(await health('catalog'), { nodes: ['consul-double', 'db9'], filtered: false }, 'service and node read see every instance');
  t.same(await health('services'), { nodes: [], filtered: true }, 'without node read an instance is left out');
  t.same(await health(undefined), { nodes: [], filtered: true }, 'and so it is without a token');
  t.same(await health('notDb'), { nodes: ['consul-double'], filtered: true }, 'a node the token may not read drops its instances');
  const names = async (token: string | undefined) => Object.keys((await (await as(token)('/catalog/services')).json()) as object).sort();
  t.same(await names('catalog'), ['api', 'consul', 'web']);
  t.same(await names('webOnly'), ['web'], 'the services list needs service read only');
  t.same(await names(undefined), []);
});

t.test('another agent of the cluster: sessions and services made through it are on its node', async (t) => {
  const { d, as } = await aclDouble(t, { lb: [{ resource: 'session', prefix: 'lb1', exact: true, policy: 'write' }] }, { nodeName: 'lb1' });
  const db = await d.addAgent('db1');
  t.not(db.port, d.port);
  const onDb = (path: string, init: RequestInit = {}) => fetch(`${db.url}/v1${path}`, { ...init, headers: { 'X-Consul-Token': 'root' } });
  const { ID } = (await (await onDb('/session/create', { method: 'PUT', body: '{}' })).json()) as { ID: string };
  t.match(await (await as('root')(`/session/info/${ID}`)).json(), [{ Node: 'db1' }], "a session made through db1's agent is on db1, and every agent sees it");
  await onDb('/agent/service/register', { method: 'PUT', body: JSON.stringify({ Name: 'mysql', Port: 3306 }) });
  t.match(await (await as('root')('/health/service/mysql')).json(), [{ Node: { Node: 'db1' }, Checks: [{ CheckID: 'serfHealth', Status: 'passing' }] }]);
  t.equal((await as('lb')(`/session/destroy/${ID}`, { method: 'PUT' })).status, 403, "lb1's token cannot destroy db1's session");
});

t.test('faults: refused connections, slow and failing answers, no leader; every request is logged', async (t) => {
  const d = await ownDouble(t);
  const api = client(d);
  await api('/kv/f', { method: 'PUT', body: 'v', headers: { 'X-Consul-Token': 'tok' } });
  t.match(d.requests.at(-1), { method: 'PUT', url: '/v1/kv/f', headers: { 'x-consul-token': 'tok' } }, 'the log keeps method, raw URL and headers');
  await d.faults.refuseConnections(true);
  await t.rejects(api('/kv/f'), 'refused while down');
  await d.faults.refuseConnections(false);
  t.equal((await api('/kv/f')).status, 200, 'back on the same port');
  d.faults.fail(500, 2);
  t.equal((await api('/kv/f')).status, 500);
  t.equal((await api('/kv/f')).status, 500);
  t.equal((await api('/kv/f')).status, 200, 'after count answers it recovers');
  d.faults.fail(429);
  t.equal((await api('/kv/f')).status, 429);
  t.equal((await api('/kv/f')).status, 429, 'without a count it keeps failing');
  d.faults.fail(0);
  d.faults.delay(300);
  const started = Date.now();
  t.equal((await api('/kv/f')).status, 200);
  t.ok(Date.now() - started >= 290, 'answered late');
  d.faults.delay(0);
  d.faults.knownLeader(false);
  t.equal((await api('/kv/f')).headers.get('x-consul-knownleader'), 'false');
  t.equal(await (await api('/status/leader')).json(), '');
});

t.test('close ends a delayed answer at once instead of keeping the process alive for the delay', async (t) => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const d = await startConsulDouble();
  d.faults.delay(30_000);
  const pending = client(d)('/kv/f');
  for (let i = 0; i < 500 && d.requests.length === 0; i++) await sleep(10);
  const started = Date.now();
  await d.close();
  await t.rejects(pending, 'the client sees the connection go');
  t.ok(Date.now() - started < 5000, `ended ${Date.now() - started} ms after close`);
  t.equal(timers(), before, 'and no timer of the delay is left to keep the process alive');
});

t.test('the consul-double bin serves until SIGTERM and prints its address', async (t) => {
  const bin = fileURLToPath(new URL('../dist/consul-double/bin.js', import.meta.url));
  const child = spawn(process.execPath, [bin, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  });
  const address = await new Promise<string>((done, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`no address printed within 10 s: ${out}`)), 10_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        done(m[1]!);
      }
    });
  });
  t.equal(await (await fetch(`http://${address}/v1/kv/bin`, { method: 'PUT', body: 'up' })).json(), true);
  t.equal(await (await fetch(`http://${address}/v1/kv/bin?raw`)).text(), 'up');
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 on SIGTERM');
  const bad = spawn(process.execPath, [bin, '--port', 'x'], { stdio: 'ignore' });
  t.equal(await new Promise((r) => bad.once('exit', r)), 64, 'a bad flag exits 64');
});
