import t from 'tap';
import { existsSync } from 'node:fs';
import { alive, startEtcd } from '@confd-haproxy/testkit';

const b64 = (s: string) => Buffer.from(s).toString('base64');

t.test('etcd answers /health and keeps a key through the v3 HTTP gateway', async (t) => {
  const e = await startEtcd();
  t.teardown(() => e.stop());
  t.match(e.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = await fetch(`${e.endpoint}/health`, { signal: AbortSignal.timeout(3000) });
  t.same(await health.json(), { health: 'true' });
  const post = (path: string, body: unknown) =>
    fetch(`${e.endpoint}/v3/${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(3000) }).then((r) => r.json() as Promise<{ kvs?: { value: string }[] }>);
  await post('kv/put', { key: b64('haproxy/memcached/t'), value: b64('{"version":1}') });
  const got = await post('kv/range', { key: b64('haproxy/memcached/t') });
  t.equal(Buffer.from(got.kvs?.[0]?.value ?? '', 'base64').toString(), '{"version":1}');
});

t.test('stop() leaves no etcd and no temp dir', async (t) => {
  const e = await startEtcd();
  await e.stop();
  t.notOk(alive(e.pid), `pid ${e.pid} is gone`);
  t.notOk(existsSync(e.dir), `${e.dir} is removed`);
});
