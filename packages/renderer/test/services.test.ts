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

t.test('a newline in catalog data is refused by the injection guard, naming the service', async (t) => {
  const { store, put } = await consul(t);
  await register(put, 1, { Meta: { note: 'x\n    server evil 6.6.6.6:1' } });
  const dir = confdir(t, { template: '{{#each (service "web")}}# {{Meta.note}}\n{{/each}}' });
  writeFileSync(join(dir, 'out/svc.cfg'), 'old\n');
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal });
  t.match(pass.errors[0], { code: 'TEMPLATE_INJECTION', message: /service "web"/ });
  t.equal(read(join(dir, 'out/svc.cfg')), 'old\n');
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

t.test('in watch mode a burst of check changes gives one reload, and an emptied backend keeps the last good file', async (t) => {
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
  t.equal(lines(reloads).length, 2, 'one reload for the burst');
  const good = cfg();
  for (const i of [1, 2, 3]) await put(`/agent/service/deregister/web-${i}`);
  t.ok(await until(() => log.some((l) => /conf\.d\/svc\.toml: the render has no servers at all \(had 3\); keeping the last good file/.test(l)), 15_000), 'the empty answer is refused');
  t.equal(cfg(), good, 'the last good file stays');
  t.equal(lines(reloads).length, 2, 'nothing reloaded');
  await register(put, 4);
  t.ok(await until(() => cfg().includes('server web-4 ')), 'a new instance is rendered again');
  t.ok(passes.length >= 3);
});
