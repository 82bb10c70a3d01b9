// consul-template's `service` and `services` over a resource's declared catalog data.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceInstance } from '@confd-haproxy/kv';
import { createTemplateEngine, TemplateError, type ServiceData } from '@confd-haproxy/template';

type Files = Parameters<Test['testdir']>[0];
const engineWith = (t: Test, files: Files) => createTemplateEngine({ templatesDir: t.testdir(files) });

const instance = (o: Partial<ServiceInstance> & { id: string; node: string }): ServiceInstance => ({
  nodeId: `id-${o.node}`,
  nodeAddress: '10.0.0.1',
  nodeDatacenter: 'dc1',
  nodeMeta: {},
  address: o.address ?? o.nodeAddress ?? '10.0.0.1',
  name: 'web',
  tags: [],
  meta: {},
  port: 80,
  status: 'passing',
  weights: { passing: 1, warning: 1 },
  ...o,
});

const web = [
  instance({ id: 'web-1', node: 'n1', address: '10.0.0.11', port: 8001, tags: ['primary', 'v1'], meta: { zone: 'a' }, weights: { passing: 10, warning: 1 } }),
  instance({ id: 'web-2', node: 'n2', address: '10.0.0.12', port: 8002, tags: ['v1'], status: 'warning' }),
  instance({ id: 'web-3', node: 'n3', address: '10.0.0.13', port: 8003, tags: ['v1'], status: 'critical' }),
];
const data = (extra: Partial<ServiceData> = {}): ServiceData => ({
  health: new Map([
    ['web', web],
    ['db@dc2', [instance({ id: 'db-1', node: 'far', name: 'db', address: '10.2.0.1', port: 5432, nodeDatacenter: 'dc2' })]],
  ]),
  catalog: new Map<string, Record<string, string[]>>([
    ['', { consul: [], web: ['primary', 'v1'] }],
    ['dc2', { db: [] }],
  ]),
  ...extra,
});
const line = '{{#each (service "web")}}server {{Node}} {{Address}}:{{Port}} weight {{Weights.Passing}} check\n{{/each}}';

t.test('service answers the passing instances with consul-template fields', async (t) => {
  const e = engineWith(t, { 'a.hbs': line });
  t.equal(await e.render('a.hbs', [], { services: data() }), 'server n1 10.0.0.11:8001 weight 10 check\n');
});

t.test('a status filter adds warning instances, and "any" every instance with its Status', async (t) => {
  const e = engineWith(t, {
    'w.hbs': '{{#each (service "web" "passing,warning")}}{{ID}} {{/each}}',
    'any.hbs': '{{#each (service "web" "any")}}{{ID}}={{Status}} {{/each}}',
  });
  t.equal(await e.render('w.hbs', [], { services: data() }), 'web-1 web-2 ');
  t.equal(await e.render('any.hbs', [], { services: data() }), 'web-1=passing web-2=warning web-3=critical ');
});

t.test('tag.name narrows a declared service to the tag; name@dc reads the declared datacenter', async (t) => {
  const e = engineWith(t, {
    'tag.hbs': '{{#each (service "primary.web")}}{{ID}} {{join Tags ","}} {{Meta.zone}}{{/each}}',
    'dc.hbs': '{{#each (service "db@dc2")}}{{Node}} {{Address}} {{NodeDatacenter}}{{/each}}',
  });
  t.equal(await e.render('tag.hbs', [], { services: data() }), 'web-1 primary,v1 a');
  t.equal(await e.render('dc.hbs', [], { services: data() }), 'far 10.2.0.1 dc2');
});

t.test('services lists names with their tags, per datacenter', async (t) => {
  const e = engineWith(t, { 's.hbs': '{{#each (services)}}{{Name}}[{{join Tags ","}}] {{/each}}|{{#each (services "@dc2")}}{{Name}}{{/each}}' });
  t.equal(await e.render('s.hbs', [], { services: data() }), 'consul[] web[primary,v1] |db');
});

t.test('a service the resource does not declare fails, naming it and the declared ones', async (t) => {
  const e = engineWith(t, { 'u.hbs': '{{#each (service "api")}}{{ID}}{{/each}}', 'dc.hbs': '{{#each (service "web@dc3")}}{{ID}}{{/each}}', 'none.hbs': line });
  const err = await e.render('u.hbs', [], { services: data() }).catch((x: unknown) => x);
  t.ok(err instanceof TemplateError);
  t.match((err as Error).message, /u\.hbs:1:\d+: service: "api" is not among the services this resource declares \("web", "db@dc2"\)/);
  await t.rejects(e.render('dc.hbs', [], { services: data() }), /"web@dc3" is not among the services/);
  await t.rejects(e.render('none.hbs', []), /this resource declares no services/);
});

t.test('bad queries and filters are errors that say what was wrong', async (t) => {
  const e = engineWith(t, { 'q.hbs': '{{service "a b"}}', 'f.hbs': '{{service "web" "healthy"}}', 'blk.hbs': '{{#service "web"}}x{{/service}}' });
  await t.rejects(e.render('q.hbs', [], { services: data() }), /"a b" is not a service query/);
  await t.rejects(e.render('f.hbs', [], { services: data() }), /unknown status "healthy"/);
  await t.rejects(e.render('blk.hbs', [], { services: data() }), /service is not a block helper/);
});

t.test('a catalog string holding a newline is refused by the injection guard, naming the service', async (t) => {
  const e = engineWith(t, { 'i.hbs': line });
  const evil = data({ health: new Map([['web', [instance({ id: 'x', node: 'n1\n    server evil 6.6.6.6:80' })]]]) });
  const err = await e.render('i.hbs', [], { services: evil }).catch((x: unknown) => x);
  t.equal((err as TemplateError).code, 'TEMPLATE_INJECTION');
  t.match((err as Error).message, /service "web"/);
});

t.test("the README's consul-template migration example renders", async (t) => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('### Moving from consul-template'));
  const blocks = [...section.matchAll(/```\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const hbs = blocks[1]!;
  t.match(hbs, /\{\{#each \(service "web"\)\}\}/, 'the Handlebars side');
  const e = engineWith(t, { 'm.hbs': hbs });
  const d = data({
    health: new Map([
      ['web', web],
      ['primary.api@dc2', [instance({ id: 'api-1', node: 'far', name: 'api', address: '10.2.0.5', port: 443, tags: ['primary'], status: 'warning' })]],
    ]),
  });
  t.equal(
    await e.render('m.hbs', [], { services: d }),
    ['backend web', '    balance roundrobin', '    server n1_web-1 10.0.0.11:8001 check weight 10', '', 'backend api', '    balance roundrobin', '    server api-1 10.2.0.5:443 check weight 1', '', '# consul[] web[primary,v1] ', ''].join('\n'),
  );
});
