// The catalog source of the Consul store: health and services through the catalog seam. Cases
// that need the double (faults, its request log, a second datacenter) are skipped on a real agent.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { createConsulStore, isKVError, parseServiceQuery, parseStatusFilter, watchHealth, type CatalogReader, type KVStore } from '@confd-haproxy/kv';
import { consulTarget, onlyDouble, type ConsulTarget } from './helpers/consul.js';

const target = await consulTarget({ datacenters: ['dc1', 'dc2'] });
t.teardown(() => target.close());

const unique = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;
const put = async (tg: ConsulTarget, path: string, body: unknown) => {
  const res = await tg.api(path, { method: 'PUT', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
};

function open(t: Test, tg: ConsulTarget = target, opts: { token?: string } = {}): KVStore & { catalog: CatalogReader } {
  const store = createConsulStore({ address: tg.address, env: tg.env, ...opts });
  t.teardown(() => store.close());
  return store as KVStore & { catalog: CatalogReader };
}

/** Three agent instances with TTL checks in the given statuses; deregistered when the test ends. */
async function instances(t: Test, statuses: ('passing' | 'warning' | 'critical')[], tg: ConsulTarget = target) {
  const name = unique('web');
  const ids = statuses.map((_, i) => `${name}-${i + 1}`);
  for (const [i, id] of ids.entries()) {
    await put(tg, '/agent/service/register', {
      Name: name,
      ID: id,
      Port: 9000 + i,
      ...(i === 1 ? { Address: '127.0.0.9' } : {}),
      Tags: i === 0 ? ['v2', 'primary'] : ['v2'],
      Meta: { idx: String(i) },
      Weights: { Passing: 10 + i, Warning: 1 },
      Check: { TTL: '60s', Status: statuses[i] },
    });
  }
  t.teardown(async () => {
    for (const id of ids) await tg.api(`/agent/service/deregister/${id}`, { method: 'PUT' }).catch(() => undefined);
  });
  return { name, ids };
}

t.test('service queries and status filters parse as consul-template writes them', async (t) => {
  t.same(parseServiceQuery('web'), { name: 'web' });
  t.same(parseServiceQuery('primary.web'), { name: 'web', tag: 'primary' });
  t.same(parseServiceQuery('v1.2.web@dc2'), { name: 'web', tag: 'v1.2', dc: 'dc2' });
  t.equal(parseServiceQuery('web server'), undefined, 'a space is not part of the grammar');
  t.equal(parseStatusFilter(''), undefined, 'no filter: passing only');
  t.same(parseStatusFilter('passing, warning'), ['passing', 'warning']);
  t.equal(parseStatusFilter('any'), 'any');
  t.throws(() => parseStatusFilter('any,passing'), /cannot be combined/);
  t.throws(() => parseStatusFilter('healthy'), /unknown status "healthy"/);
});

t.test('health answers the passing instances by default, with the fields templates read', async (t) => {
  const store = open(t);
  const { name, ids } = await instances(t, ['passing', 'passing', 'critical']);
  const snap = await store.catalog.health({ name });
  t.ok(snap.index >= 1);
  t.equal(snap.knownLeader, true);
  t.same(snap.instances.map((i) => i.id), ids.slice(0, 2), 'the critical instance is left out; sorted by node, then ID');
  const [a, b] = snap.instances;
  t.equal(a!.address, a!.nodeAddress, 'no service address: the node address');
  t.equal(b!.address, '127.0.0.9', 'a service address wins');
  t.same(a!.tags, ['primary', 'v2'], 'tags are sorted');
  t.same(a!.meta, { idx: '0' });
  t.same(a!.weights, { passing: 10, warning: 1 });
  t.equal(a!.status, 'passing');
  t.equal(a!.port, 9000);
  t.equal(a!.name, name);
  t.ok(a!.node && a!.nodeDatacenter, 'node name and datacenter');
});

t.test('a status filter answers warning instances too, and "any" every instance with its status', async (t) => {
  const store = open(t);
  const { name } = await instances(t, ['passing', 'warning', 'critical']);
  t.same((await store.catalog.health({ name }, { status: ['passing', 'warning'] })).instances.map((i) => i.status), ['passing', 'warning']);
  t.same((await store.catalog.health({ name }, { status: 'any' })).instances.map((i) => i.status), ['passing', 'warning', 'critical']);
  t.same((await store.catalog.health({ name }, { status: ['critical'] })).instances.map((i) => i.status), ['critical']);
});

t.test('a tag narrows the instances', async (t) => {
  const store = open(t);
  const { name, ids } = await instances(t, ['passing', 'passing', 'passing']);
  t.same((await store.catalog.health({ name, tag: 'primary' })).instances.map((i) => i.id), [ids[0]]);
});

t.test('services lists every name with its tags', async (t) => {
  const store = open(t);
  const { name } = await instances(t, ['passing', 'critical', 'passing']);
  const snap = await store.catalog.services();
  t.same(snap.services[name], ['primary', 'v2']);
  t.ok(snap.index >= 1);
});

t.test('watchHealth blocks until a check changes, then yields the new instances', async (t) => {
  const store = open(t);
  const { name, ids } = await instances(t, ['passing', 'passing', 'passing']);
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const seen: string[][] = [];
  const loop = (async () => {
    for await (const snap of watchHealth(store.catalog, { name }, { signal: stop.signal, waitMs: 10_000 })) {
      seen.push(snap.instances.map((i) => i.id));
      if (seen.length === 2) return;
    }
  })();
  const until = Date.now() + 10_000;
  while (seen.length < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.same(seen[0], ids);
  await put(target, `/agent/check/fail/service:${ids[1]}`, {});
  await loop;
  t.same(seen[1], [ids[0], ids[2]], 'the failed instance is gone from the next answer');
});

t.test('a datacenter is asked with dc; an unknown one is a server error naming it', async (t) => {
  const store = open(t);
  const err = await store.catalog.health({ name: 'consul', dc: unique('nowhere') }).catch((e: unknown) => e);
  t.ok(isKVError(err, 'KV_SERVER'));
  t.match((err as Error).message, /health of service "consul@nowhere-[0-9a-f]+".*No path to datacenter/);
});

t.test('a second datacenter of the double answers its own services', onlyDouble, async (t) => {
  const store = open(t);
  const name = unique('db');
  await put(target, '/catalog/register?dc=dc2', { Node: 'far', Address: '10.2.0.7', Service: { Service: name, Port: 5432 } });
  t.same((await store.catalog.health({ name })).instances, [], 'not local');
  const [far] = (await store.catalog.health({ name, dc: 'dc2' })).instances;
  t.equal(far?.address, '10.2.0.7');
  t.equal(far?.nodeDatacenter, 'dc2');
});

t.test('after a snapshot restore lowers the index, the watch goes on and sees later changes', onlyDouble, async (t) => {
  const store = open(t);
  const { name, ids } = await instances(t, ['passing', 'passing', 'passing']);
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const indexes: number[] = [];
  const seen: number[] = [];
  const loop = (async () => {
    for await (const snap of watchHealth(store.catalog, { name }, { signal: stop.signal, waitMs: 10_000, onPoll: (s) => indexes.push(s.index) })) {
      seen.push(snap.instances.length);
      if (seen.length === 2) return;
    }
  })();
  const wait = async (ok: () => boolean) => {
    const until = Date.now() + 10_000;
    while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  };
  await wait(() => indexes.length >= 1);
  const high = indexes[0]!;
  target.double!.faults.resetIndex();
  await wait(() => indexes.length >= 2);
  t.ok(indexes[1]! < high, 'the answer after the restore has a lower index');
  t.ok(indexes.every((i) => i >= 1), 'never below 1');
  await put(target, `/agent/check/fail/service:${ids[0]}`, {});
  await loop;
  t.same(seen, [3, 2], 'the change after the restore is seen');
});

t.test('the token travels in the X-Consul-Token header only', onlyDouble, async (t) => {
  const secured = await consulTarget({ acl: { masterToken: 's3cret-token' } });
  t.teardown(() => secured.close());
  const store = open(t, secured, { token: 's3cret-token' });
  await store.catalog.health({ name: 'consul' });
  await store.catalog.services();
  const reqs = secured.double!.requests.filter((r) => /^\/v1\/(health|catalog)\//.test(r.url));
  t.equal(reqs.length, 2);
  t.ok(reqs.every((r) => !r.url.includes('s3cret') && r.headers['x-consul-token'] === 's3cret-token'));
  const anon = open(t, secured, { token: 'wrong' });
  const err = await anon.catalog.health({ name: 'consul' }).catch((e: unknown) => e);
  t.ok(isKVError(err, 'KV_FORBIDDEN'));
  t.notMatch((err as Error).message, /s3cret|wrong/);
});
