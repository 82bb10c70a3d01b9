// Resources that read Consul services: rendered from the double's catalog and health, with the
// guarantees of KV resources (plan, one reload per burst, data and injection guards).
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConsulStore, createFileStore, type KVStore } from '@confd-haproxy/kv';
import { planAll, runOnce, runWatch, type PassResult } from '@confd-haproxy/renderer';
import { startConsulDouble, type ConsulDouble } from '@confd-haproxy/testkit';
import { lines, quietLogger, read, sleep, until } from './helpers.js';

const template = [
  'listen web',
  '{{#each (service "web" "any")}}',
  '    server {{ID}} {{Address}}:{{Port}} weight {{Weights.Passing}}{{#unless (eq Status "passing")}} disabled{{/unless}}',
  '{{/each}}',
  '',
].join('\n');

function confdir(t: Test, opts: { services?: string; template?: string; reload?: string } = {}) {
  return t.testdir({
    'conf.d': { 'svc.toml': `[template]\nsrc = "svc.hbs"\ndest = "out/svc.cfg"\nservices = ${opts.services ?? '["web"]'}\n${opts.reload ? `reload_cmd = ${JSON.stringify(opts.reload)}\n` : ''}` },
    templates: { 'svc.hbs': opts.template ?? template },
    out: {},
  });
}

async function consul(t: Test): Promise<{ double: ConsulDouble; store: KVStore; put(path: string, body?: unknown): Promise<void> }> {
  const double = await startConsulDouble();
  const store = createConsulStore({ address: double.address });
  t.teardown(async () => {
    await store.close();
    await double.close();
  });
  const put = async (path: string, body?: unknown) => {
    const res = await fetch(`${double.url}/v1${path}`, { method: 'PUT', body: body === undefined ? '' : JSON.stringify(body) });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  };
  return { double, store, put };
}

const register = (put: (p: string, b?: unknown) => Promise<void>, i: number, extra: Record<string, unknown> = {}) =>
  put('/agent/service/register', { Name: 'web', ID: `web-${i}`, Port: 8000 + i, Check: { TTL: '60s', Status: 'passing' }, ...extra });

t.test('onetime renders the instances of a declared service; plan shows the diff and writes nothing', async (t) => {
  const { store, put } = await consul(t);
  await register(put, 1, { Address: '10.0.0.1' });
  await register(put, 2);
  const dir = confdir(t);
  const opts = { store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal };
  const plan = await planAll(opts);
  t.match(plan, { ok: true, pending: true });
  t.match(plan.resources[0]?.diff, /\+    server web-1 10\.0\.0\.1:8001 weight 1/);
  t.equal(read(join(dir, 'out/svc.cfg')), '', 'plan writes nothing');
  const pass = await runOnce(opts);
  t.equal(pass.ok, true);
  t.equal(read(join(dir, 'out/svc.cfg')), 'listen web\n    server web-1 10.0.0.1:8001 weight 1\n    server web-2 127.0.0.1:8002 weight 1\n', "an instance without an address gets its node's");
});

t.test('a template that reads an undeclared service fails naming it, and the old file stays', async (t) => {
  const { store, put } = await consul(t);
  await register(put, 1);
  const dir = confdir(t, { template: '{{#each (service "db")}}{{ID}}{{/each}}' });
  writeFileSync(join(dir, 'out/svc.cfg'), 'old\n');
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal });
  t.equal(pass.exitCode, 65);
  t.match(pass.errors[0]?.message, /svc\.hbs:1:\d+: service: "db" is not among the services this resource declares \("web"\)/);
  t.equal(read(join(dir, 'out/svc.cfg')), 'old\n');
});

t.test('a store without a service catalog is an error naming the resource', async (t) => {
  const dir = confdir(t);
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal });
  t.equal(pass.exitCode, 65);
  t.match(pass.errors[0]?.message, /conf\.d\/svc\.toml: \[template\]\.services needs a store with a service catalog \(--backend consul\); file .* has none/);
});

t.test('a newline in catalog data the template writes costs only its instance, named with the field', async (t) => {
  const { store, put } = await consul(t);
  await register(put, 1, { Meta: { note: 'x\n    server evil 6.6.6.6:1' } });
  await register(put, 2, { Meta: { note: 'ok' } });
  const dir = confdir(t, { template: '{{#each (service "web")}}# {{ID}} {{Meta.note}}\n{{/each}}' });
  writeFileSync(join(dir, 'out/svc.cfg'), 'old\n');
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal });
  t.equal(pass.exitCode, 65);
  t.match(pass.badEntries, [{ key: 'service:web@dc1/consul-double/web-1', source: 'catalog', fallback: 'left-out', message: /^svc\.hbs:1:\d+: service "web" instance "web-1" on node "consul-double": Meta\["note"\] "x\\n    server evil 6\.6\.6\.6:1" holds whitespace/ }]);
  t.match(pass.errors, [{ code: 'TEMPLATE_BAD_VALUE', key: 'service:web@dc1/consul-double/web-1', message: /^conf\.d\/svc\.toml: svc\.hbs/ }]);
  t.equal(read(join(dir, 'out/svc.cfg')), '# web-2 ok\n');
});

t.test('an instance whose address or port is no word of a server line is left out and named; the others render', async (t) => {
  const { store, put } = await consul(t);
  await register(put, 1, { Address: '10.0.0.1' });
  await register(put, 2, { Address: '10.6.6.6:6666 weight 256 source 0.0.0.0 #' });
  await register(put, 3, { Address: '10.0.0.3', Port: 0 });
  const dir = confdir(t);
  const log: string[] = [];
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(log), signal: new AbortController().signal });
  t.equal(read(join(dir, 'out/svc.cfg')), 'listen web\n    server web-1 10.0.0.1:8001 weight 1\n');
  t.equal(pass.exitCode, 65, 'bad data, as a bad entry');
  t.match(pass.badEntries, [
    { resource: 'conf.d/svc.toml', key: 'service:web@dc1/consul-double/web-2', source: 'catalog', message: 'service "web" instance "web-2" on node "consul-double": Address "10.6.6.6:6666 weight 256 source 0.0.0.0 #" is not an IP address or host name' },
    { key: 'service:web@dc1/consul-double/web-3', message: /: Port 0 is not a port number \(1\.\.65535\)$/ },
  ]);
  t.match(log, [/^ERROR conf\.d\/svc\.toml: service "web" instance "web-2" .*; leaving it out, everything else renders as the catalog holds it$/, /web-3/, /updated/]);
});

t.test('in watch mode a bad instance is logged once while it stays bad, and forgotten once it is fixed', async (t) => {
  const { store, put } = await consul(t);
  await register(put, 1);
  await register(put, 2, { Address: '10.6.6.6 backup' });
  const dir = confdir(t);
  const { passes, log } = await watching(t, store, dir);
  const complaints = () => log.filter((l) => /instance "web-2"/.test(l)).length;
  t.ok(await until(() => passes.length >= 1), 'the first pass ran');
  t.match(passes[0]?.badEntries, [{ key: 'service:web@dc1/consul-double/web-2' }]);
  await put('/agent/check/warn/service:web-1');
  // The file is swapped before the pass is told: wait for the pass.
  t.ok(await until(() => passes.length >= 2), 'a later change renders');
  t.match(read(join(dir, 'out/svc.cfg')), /server web-1 \S+ weight 1 disabled/);
  t.match(passes.at(-1)?.badEntries, [{ key: 'service:web@dc1/consul-double/web-2' }], 'still reported with each pass');
  t.equal(complaints(), 1, 'but logged once, not once per pass');
  await register(put, 2, { Address: '10.0.0.2' });
  t.ok(await until(() => passes.at(-1)?.badEntries.length === 0), 'the fixed instance is no bad entry');
  t.match(read(join(dir, 'out/svc.cfg')), /server web-2 10\.0\.0\.2:8002/, 'and renders');
  t.equal(complaints(), 1);
});

async function watching(t: Test, store: KVStore, dir: string) {
  const ac = new AbortController();
  const passes: PassResult[] = [];
  const log: string[] = [];
  const done = runWatch({ store, confdir: dir, logger: quietLogger(log), signal: ac.signal, env: { PATH: process.env.PATH }, wait: { minMs: 300, maxMs: 5000 }, onPass: (p) => passes.push(p) });
  t.teardown(async () => {
    ac.abort();
    await done;
  });
  return { passes, log };
}

t.test('in watch mode a burst of check changes gives two reloads at most, and an emptied backend keeps a good file', async (t) => {
  const { store, put } = await consul(t);
  for (const i of [1, 2, 3]) await register(put, i);
  const dir = confdir(t);
  const reloads = join(dir, 'RELOADS');
  writeFileSync(join(dir, 'conf.d/svc.toml'), `${read(join(dir, 'conf.d/svc.toml'))}reload_cmd = "echo r >> ${reloads}"\n`);
  const { passes, log } = await watching(t, store, dir);
  const cfg = () => read(join(dir, 'out/svc.cfg'));
  t.ok(await until(() => passes.length >= 1), 'the first pass ran');
  t.equal(cfg().split('\n').filter((l) => l.includes('server')).length, 3, 'the first render has three servers');
  t.equal(lines(reloads).length, 1);
  for (const i of [1, 2, 3]) {
    await put(`/agent/check/fail/service:web-${i}`);
    await sleep(20);
  }
  t.ok(await until(() => (cfg().match(/disabled/g) ?? []).length === 3 && lines(reloads).length >= 2, 15_000), 'every instance is rendered disabled, and reloaded');
  await sleep(500);
  // The first change after a quiet period renders at once (leading edge), the rest of the burst once more.
  t.ok(lines(reloads).length <= 3, `two reloads at most for the burst (${lines(reloads).length - 1})`);
  const before = lines(reloads).length;
  for (const i of [1, 2, 3]) await put(`/agent/service/deregister/web-${i}`);
  t.ok(await until(() => log.some((l) => /conf\.d\/svc\.toml: the render has no servers at all \(had [123]\); keeping the last good file/.test(l)), 15_000), 'the empty answer is refused');
  t.match(cfg(), /server web-\d /, 'a file with servers stays');
  t.ok(lines(reloads).length - before <= 1, 'at most the leading render of the burst reloaded');
  await register(put, 4);
  t.ok(await until(() => cfg().includes('server web-4 ')), 'a new instance is rendered again');
  t.ok(passes.length >= 3);
});
