// The catalog, health and agent endpoints, driven by the real `consul` npm client: the double must
// answer as Consul does, and every case here also passes against a real agent (CONSUL_HTTP_ADDR).
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import Consul from 'consul';
import { consulTarget, onlyDouble, realAgent } from './helpers/consul.js';

const target = await consulTarget({ datacenters: ['dc1', 'dc2'] });
t.teardown(() => target.close());

interface HealthEntry {
  Node: { Node: string; Address: string; Datacenter: string };
  Service: { ID: string; Service: string; Tags: string[] | null; Address: string; Port: number; Meta: Record<string, string> | null; Weights: { Passing: number; Warning: number } };
  Checks: { CheckID: string; Status: string; ServiceID: string; ServiceName: string; Output: string; Node: string }[];
}
type Resp = { headers: Record<string, string | string[] | undefined>; statusCode: number };

const [host, port] = (() => {
  const u = new URL(/^https?:\/\//.test(target.address) ? target.address : `http://${target.address}`);
  return [u.hostname, Number(u.port || 8500)];
})();
const consul = new Consul({ host, port, ...(process.env.CONSUL_HTTP_TOKEN && realAgent ? { defaults: { token: process.env.CONSUL_HTTP_TOKEN } } : {}) } as ConstructorParameters<typeof Consul>[0]);
// The typings of the client lack ctx, index and wait; this is the slice the cases use.
const api = consul as unknown as {
  health: { service(o: Record<string, unknown>): Promise<[Resp, HealthEntry[]]> };
  catalog: {
    service: { list(o: Record<string, unknown>): Promise<[Resp, Record<string, string[]>]> };
    register(o: Record<string, unknown>): Promise<unknown>;
    deregister(o: Record<string, unknown>): Promise<unknown>;
  };
  agent: {
    service: { register(o: Record<string, unknown>): Promise<unknown>; deregister(o: Record<string, unknown>): Promise<unknown> };
    check: { pass(o: Record<string, unknown>): Promise<unknown>; warn(o: Record<string, unknown>): Promise<unknown>; fail(o: Record<string, unknown>): Promise<unknown> };
  };
};
const withResponse = () => ({ ctx: Object.assign(new EventEmitter(), { includeResponse: true }) });
const health = async (service: string, opts: Record<string, unknown> = {}) => {
  const [res, body] = await api.health.service({ service, ...opts, ...withResponse() });
  return { entries: body ?? [], index: Number(res.headers['x-consul-index']) };
};
const services = async (opts: Record<string, unknown> = {}) => {
  const [res, body] = await api.catalog.service.list({ ...opts, ...withResponse() });
  return { services: body ?? {}, index: Number(res.headers['x-consul-index']) };
};
const unique = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

/** Wait (bounded) until the health answer satisfies `ok`. */
async function healthUntil(service: string, opts: Record<string, unknown>, ok: (e: HealthEntry[]) => boolean, ms = 10_000) {
  const until = Date.now() + ms;
  for (let i = 0; Date.now() < until && i < 1000; i++) {
    const h = await health(service, opts);
    if (ok(h.entries)) return h.entries;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`health of ${service} never reached the awaited state within ${ms} ms`);
}

/** Three agent instances of one service with TTL checks; deregistered when the test ends. */
async function threeInstances(t: Test, opts: { ttl?: string; tags?: (i: number) => string[] } = {}) {
  const name = unique('web');
  const ids = [1, 2, 3].map((i) => `${name}-${i}`);
  for (const [i, id] of ids.entries()) {
    await api.agent.service.register({
      name,
      id,
      port: 8001 + i,
      ...(i === 0 ? {} : { address: `127.0.0.${i + 1}` }),
      tags: opts.tags?.(i) ?? ['v1', `n${i}`],
      meta: { zone: `z${i}` },
      check: { ttl: opts.ttl ?? '60s' },
    });
  }
  t.teardown(async () => {
    for (const id of ids) await api.agent.service.deregister({ id }).catch(() => undefined);
  });
  return { name, ids, checks: ids.map((id) => `service:${id}`) };
}

t.test('an agent service with a TTL check starts critical, and passing answers it only once the check passes', async (t) => {
  const { name, ids, checks } = await threeInstances(t);
  const all = (await health(name)).entries;
  t.equal(all.length, 3, 'every instance is in the health answer');
  t.same((await health(name, { passing: true })).entries, [], 'no instance passes before its first TTL update');
  t.ok(all.every((e) => e.Checks.find((c) => c.ServiceID === e.Service.ID)!.Status === 'critical'), 'a new TTL check is critical');
  for (const id of checks) await api.agent.check.pass({ id, note: 'ok' });
  const passing = await healthUntil(name, { passing: true }, (e) => e.length === 3);
  t.same(passing.map((e) => e.Service.ID).sort(), ids);
  const first = passing.find((e) => e.Service.ID === ids[0])!;
  t.equal(first.Service.Service, name);
  t.equal(first.Service.Port, 8001);
  t.equal(first.Service.Address, '', 'a service registered without an address has ""');
  t.equal(passing.find((e) => e.Service.ID === ids[1])!.Service.Address, '127.0.0.2');
  t.same(first.Service.Tags, ['v1', 'n0']);
  t.same(first.Service.Meta, { zone: 'z0' });
  t.same(first.Service.Weights, { Passing: 1, Warning: 1 }, 'default weights');
  t.ok(first.Node.Node && first.Node.Address && first.Node.Datacenter, 'the node carries its name, address and datacenter');
  const serf = first.Checks.find((c) => c.CheckID === 'serfHealth');
  t.ok(serf, 'the node-level serfHealth check is among the checks');
  t.equal(serf!.ServiceID, '');
  const own = first.Checks.find((c) => c.CheckID === `service:${ids[0]}`)!;
  t.equal(own.ServiceName, name);
  t.equal(own.Status, 'passing');
});

t.test('fail and warn take an instance out of a passing answer; without passing it stays, with its status', async (t) => {
  const { name, ids, checks } = await threeInstances(t);
  for (const id of checks) await api.agent.check.pass({ id });
  await healthUntil(name, { passing: true }, (e) => e.length === 3);
  await api.agent.check.fail({ id: checks[0], note: 'down' });
  await api.agent.check.warn({ id: checks[1] });
  const passing = await healthUntil(name, { passing: true }, (e) => e.length === 1);
  t.same(passing.map((e) => e.Service.ID), [ids[2]]);
  const all = (await health(name)).entries;
  const statusOf = (id: string) => all.find((e) => e.Service.ID === id)!.Checks.find((c) => c.ServiceID === id)!.Status;
  t.same(ids.map(statusOf), ['critical', 'warning', 'passing']);
});

t.test('a blocking health query answers when a check changes status, with a higher X-Consul-Index', async (t) => {
  const { name, checks } = await threeInstances(t);
  for (const id of checks) await api.agent.check.pass({ id });
  await healthUntil(name, { passing: true }, (e) => e.length === 3);
  const before = await health(name, { passing: true });
  t.ok(before.index >= 1);
  const held = health(name, { passing: true, index: String(before.index), wait: '20s' });
  await new Promise((r) => setTimeout(r, 200));
  await api.agent.check.fail({ id: checks[1] });
  const after = await held;
  t.ok(after.index > before.index, 'the index moved');
  t.equal(after.entries.length, 2, 'the answer has the change');
});

t.test('a TTL update that changes nothing does not wake a blocking query', async (t) => {
  const { name, checks } = await threeInstances(t);
  for (const id of checks) await api.agent.check.pass({ id });
  await healthUntil(name, { passing: true }, (e) => e.length === 3);
  const before = await health(name, { passing: true });
  const held = health(name, { passing: true, index: String(before.index), wait: '1s' });
  await api.agent.check.pass({ id: checks[0] });
  const after = await held;
  t.equal(after.index, before.index, 'the wait ran out with the same index');
});

t.test('a TTL check that is not updated in time turns critical with "TTL expired"', async (t) => {
  const { name, ids, checks } = await threeInstances(t, { ttl: '1s' });
  await api.agent.check.pass({ id: checks[0], note: 'last words' });
  const all = await healthUntil(name, {}, (e) => e.find((x) => x.Service.ID === ids[0])!.Checks.some((c) => c.ServiceID === ids[0] && c.Status === 'critical' && c.Output !== ''));
  const own = all.find((x) => x.Service.ID === ids[0])!.Checks.find((c) => c.ServiceID === ids[0])!;
  t.match(own.Output, /^TTL expired/);
});

t.test('a tag filter keeps the instances carrying the tag', async (t) => {
  const { name, ids } = await threeInstances(t, { tags: (i) => (i === 1 ? ['primary'] : ['replica']) });
  t.same((await health(name, { tag: 'primary' })).entries.map((e) => e.Service.ID), [ids[1]]);
  t.same((await health(name, { tag: 'nothing' })).entries, []);
});

t.test('deregistering an agent service removes it and wakes a blocked query; an unknown ID is a 404', async (t) => {
  const { name, ids } = await threeInstances(t);
  const before = await health(name);
  const held = health(name, { index: String(before.index), wait: '20s' });
  await api.agent.service.deregister({ id: ids[0] });
  const after = await held;
  t.ok(after.index > before.index);
  t.same(after.entries.map((e) => e.Service.ID).sort(), ids.slice(1));
  const err = await api.agent.service.deregister({ id: unique('no-such-service') }).then(
    () => undefined,
    (e: { statusCode?: number }) => e,
  );
  t.equal(err?.statusCode, 404);
  const checkErr = await api.agent.check.pass({ id: unique('no-such-check') }).then(
    () => undefined,
    (e: { statusCode?: number }) => e,
  );
  t.ok((checkErr?.statusCode ?? 0) >= 400, 'a TTL update of an unknown check is refused');
});

t.test('catalog services lists every service name with its tags, and blocks on registrations', async (t) => {
  const { name } = await threeInstances(t, { tags: (i) => (i === 2 ? ['b', 'a'] : ['a']) });
  const first = await services();
  t.same(first.services[name], ['a', 'b'], 'tags of all instances, once each, sorted');
  const other = unique('db');
  const held = services({ index: String(first.index), wait: '20s' });
  await api.agent.service.register({ name: other, port: 5432 });
  t.teardown(() => api.agent.service.deregister({ id: other }).catch(() => undefined));
  const after = await held;
  t.ok(after.index > first.index);
  t.ok(other in after.services, 'the new service is listed');
});

t.test('catalog register and deregister: an external node with a service and a check', async (t) => {
  const node = unique('ext-node');
  const name = unique('ext');
  t.teardown(() => api.catalog.deregister({ node }).catch(() => undefined));
  await api.catalog.register({
    node,
    address: '10.9.0.1',
    service: { service: name, id: `${name}-a`, port: 9000, tags: ['x'] },
    check: { checkid: `${name}-chk`, name: 'external check', serviceid: `${name}-a`, status: 'passing' },
  });
  const [entry] = (await health(name, { passing: true })).entries;
  t.equal(entry?.Node.Node, node);
  t.equal(entry?.Node.Address, '10.9.0.1');
  t.equal(entry?.Service.Address, '', 'the service has no address of its own: consumers fall back to the node');
  t.same(
    entry?.Checks.map((c) => c.CheckID),
    [`${name}-chk`],
    'an external node has no serfHealth',
  );
  await api.catalog.register({ node, address: '10.9.0.1', check: { checkid: `${name}-chk`, serviceid: `${name}-a`, status: 'critical' } });
  t.same((await health(name, { passing: true })).entries, [], 'a critical check takes it out');
  await api.catalog.deregister({ node, serviceid: `${name}-a` });
  t.same((await health(name)).entries, [], 'deregistering the service removes it');
  t.notOk(name in (await services()).services);
});

t.test('addresses, tags and meta values are any strings, kept as written: Consul checks none of them', async (t) => {
  // What an attacker with service:write or node:write registers; consumers must treat it as data.
  const name = unique('loose');
  const id = `${name}-1`;
  const address = '127.0.0.1:9 "${CONSUL_HTTP_TOKEN}" #';
  await api.agent.service.register({ name, id, address, port: 9092, tags: ['v1 backup', 'x#y'], meta: { owner: 'team "blue" #ops', hdr: '%[env(X)] $Y' }, check: { ttl: '60s', status: 'passing' } });
  t.teardown(() => api.agent.service.deregister({ id }).catch(() => undefined));
  const [own] = (await health(name)).entries;
  t.equal(own?.Service.Address, address);
  t.same(own?.Service.Tags, ['v1 backup', 'x#y']);
  t.same(own?.Service.Meta, { owner: 'team "blue" #ops', hdr: '%[env(X)] $Y' });
  const node = unique('loose-node');
  t.teardown(() => api.catalog.deregister({ node }).catch(() => undefined));
  await api.catalog.register({ node, address: '10.6.6.7:80 backup #', service: { service: name, id: `${name}-ext`, port: 8085 } });
  const ext = (await health(name)).entries.find((e) => e.Node.Node === node);
  t.equal(ext?.Node.Address, '10.6.6.7:80 backup #', "a node's address too");
});

t.test('dc names a datacenter; one the agent has no route to is an error', async (t) => {
  const err = await health('consul', { dc: unique('nowhere') }).then(
    () => undefined,
    (e: { statusCode?: number; message?: string }) => e,
  );
  t.equal(err?.statusCode, 500);
  t.match(err?.message ?? '', /No path to datacenter/);
});

t.test('the double keeps each datacenter apart', onlyDouble, async (t) => {
  const name = unique('remote');
  await api.catalog.register({ node: 'far', address: '10.2.0.1', dc: 'dc2', service: { service: name, port: 80 } });
  t.same((await health(name)).entries, [], 'not in the local datacenter');
  const [entry] = (await health(name, { dc: 'dc2' })).entries;
  t.equal(entry?.Node.Datacenter, 'dc2');
  t.equal(entry?.Service.Port, 80);
});

t.test('a snapshot restore lowers the health index and answers held queries', onlyDouble, async (t) => {
  const { name, checks } = await threeInstances(t);
  await api.agent.check.pass({ id: checks[0] });
  const before = await healthUntil(name, {}, (e) => e.length === 3).then(() => health(name));
  const held = health(name, { index: String(before.index), wait: '20s' });
  await new Promise((r) => setTimeout(r, 100));
  target.double!.faults.resetIndex();
  const after = await held;
  t.ok(after.index < before.index, 'the index went backwards');
  t.equal(after.entries.length, 3);
});
