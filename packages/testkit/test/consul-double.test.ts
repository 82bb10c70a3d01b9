import t from 'tap';
import { startConsulDouble } from '@confd-haproxy/testkit';

const double = await startConsulDouble();
t.teardown(() => double.close());
const api = (path: string, init?: RequestInit) => fetch(`${double.url}/v1${path}`, init);

t.test('a missing key is a 404 with an empty body and the index headers', async (t) => {
  const res = await api('/kv/nothing/here');
  t.equal(res.status, 404);
  t.equal(await res.text(), '');
  t.ok(Number(res.headers.get('x-consul-index')) >= 1, 'X-Consul-Index is at least 1');
  t.equal(res.headers.get('x-consul-knownleader'), 'true');
  t.equal(res.headers.get('x-consul-lastcontact'), '0');
});

t.test('raw, keys and separator read like Consul', async (t) => {
  for (const k of ['svc/a/x', 'svc/a/y', 'svc/b', 'svc%2Fenc/z']) {
    await api(`/kv/${k}`, { method: 'PUT', body: `value of ${k}` });
  }
  t.equal(await (await api('/kv/svc/b?raw')).text(), 'value of svc/b');
  t.same(await (await api('/kv/svc/?keys')).json(), ['svc/a/x', 'svc/a/y', 'svc/b', 'svc/enc/z']);
  t.same(await (await api('/kv/svc/?keys&separator=/')).json(), ['svc/a/', 'svc/b', 'svc/enc/']);
  const [entry] = (await (await api('/kv/svc/b')).json()) as { Value: string; Flags: number }[];
  t.equal(Buffer.from(entry!.Value, 'base64').toString(), 'value of svc/b', 'Value is base64');
  await api('/kv/empty', { method: 'PUT', body: '' });
  const [empty] = (await (await api('/kv/empty')).json()) as { Value: unknown }[];
  t.equal(empty!.Value, null, 'an empty value is null');
});

t.test('conflicting flags are a 400 and a body over 512 KB a 413', async (t) => {
  t.equal((await api('/kv/x?cas=0&acquire=abc', { method: 'PUT', body: 'v' })).status, 400);
  t.equal((await api('/kv/x', { method: 'PUT', body: 'v'.repeat(513 * 1024) })).status, 413);
});

t.test('a session TTL outside 10s..24h is refused', async (t) => {
  const bad = await api('/session/create', { method: 'PUT', body: JSON.stringify({ TTL: '5s' }) });
  t.equal(bad.status, 400);
  t.match(await bad.text(), /Invalid Session TTL/);
  const ok = await api('/session/create', { method: 'PUT', body: JSON.stringify({ TTL: '10s', LockDelay: '1s' }) });
  const { ID } = (await ok.json()) as { ID: string };
  t.ok(ID);
  t.equal((await api(`/session/renew/${ID}`, { method: 'PUT' })).status, 200);
  t.equal((await api('/session/renew/not-a-session', { method: 'PUT' })).status, 404);
});

t.test('an invalidated session releases its lock and starts lock-delay; a release does not', async (t) => {
  const create = async (delay: string) =>
    ((await (await api('/session/create', { method: 'PUT', body: JSON.stringify({ TTL: '10s', LockDelay: delay }) })).json()) as { ID: string }).ID;
  const s1 = await create('2s');
  const s2 = await create('0s');
  t.equal(await (await api(`/kv/lock/a?acquire=${s1}`, { method: 'PUT', body: 'one' })).json(), true);
  t.equal(await (await api(`/kv/lock/a?acquire=${s2}`, { method: 'PUT', body: 'two' })).json(), false, 'held');
  double.expireSession(s1);
  const [entry] = (await (await api('/kv/lock/a')).json()) as { Session?: string }[];
  t.equal(entry!.Session, undefined, 'released on invalidation');
  t.equal(await (await api(`/kv/lock/a?acquire=${s2}`, { method: 'PUT', body: 'two' })).json(), false, 'lock-delay holds it free');
  await new Promise((r) => setTimeout(r, 2100));
  t.equal(await (await api(`/kv/lock/a?acquire=${s2}`, { method: 'PUT', body: 'two' })).json(), true, 'taken after lock-delay');
  t.equal(await (await api(`/kv/lock/a?release=${s2}`, { method: 'PUT', body: 'two' })).json(), true);
  const s3 = await create('15s');
  t.equal(await (await api(`/kv/lock/a?acquire=${s3}`, { method: 'PUT', body: 'three' })).json(), true, 'an explicit release starts no lock-delay');
});
