// consul-template's `service` and `services` over a resource's declared catalog data.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceInstance } from '@confd-haproxy/kv';
import { TemplateError, type ServiceData } from '@confd-haproxy/template';
import { createTemplateEngine } from '@confd-haproxy/template/engine';

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

const one = (o: Partial<ServiceInstance>) => data({ health: new Map([['web', [instance({ id: 'web-1', node: 'n1', ...o })]]]) });

t.test('a catalog string HAProxy would not read as one word is refused where it is written, naming the service, instance and field', async (t) => {
  const cases: [string, Partial<ServiceInstance>, string, RegExp][] = [
    ['a space in Node', { node: 'n1 backup' }, '{{Node}}', /service "web" instance "web-1" on node "n1 backup": Node "n1 backup" holds whitespace or control characters:/],
    ['a tab in ID', { id: 'web-1\tbackup' }, '{{ID}}', /instance "web-1\\tbackup" on node "n1": ID "web-1\\tbackup" holds whitespace or control characters/],
    ["'#' in a tag, joined", { tags: ['v1', 'x#'] }, '{{join Tags ","}}', /: Tags\[1\] "x#" holds '#'/],
    ['a quote in Meta', { meta: { owner: 'a"b' } }, '{{Meta.owner}}', /: Meta\["owner"\] "a\\"b" holds a quote/],
    ['a backquote in ServiceMeta', { meta: { owner: 'a`b' } }, '{{ServiceMeta.owner}}', /: Meta\["owner"\] "a`b" holds a quote/],
    ["'$' in NodeMeta", { nodeMeta: { rack: '$CONSUL_HTTP_TOKEN' } }, '"{{NodeMeta.rack}}"', /: NodeMeta\["rack"\] "\$CONSUL_HTTP_TOKEN" holds '\$'/],
    ["'${' in Name", { name: 'web${X}' }, '{{Name}}', /service "web\$\{X\}" instance "web-1" on node "n1": Name "web\$\{X\}" holds '\$'/],
    ["log-format's %[env()] in Meta", { meta: { hdr: '%[env(CONSUL_HTTP_TOKEN)]' } }, '{{Meta.hdr}}', /: Meta\["hdr"\] "%\[env\(CONSUL_HTTP_TOKEN\)\]" holds '%'/],
    ['a backslash in NodeDatacenter', { nodeDatacenter: 'dc\\1' }, '{{NodeDatacenter}}', /: NodeDatacenter "dc\\\\1" holds a backslash/],
    ['a Meta key written with @key', { meta: { 'a b': 'x' } }, '{{#each Meta}}{{@key}}{{/each}}', /: a key of Meta "a b" holds whitespace/],
    ['an address (the read refuses it first)', { address: '10.6.6.6:1 backup' }, '{{Address}}', /: Address "10\.6\.6\.6:1 backup" holds whitespace/],
  ];
  for (const [what, o, print, message] of cases) {
    const e = engineWith(t, { 'p.hbs': `{{#each (service "web")}}x {{Port}} ${print}\n{{/each}}` });
    const err = await e.render('p.hbs', [], { services: one(o) }).catch((x: unknown) => x);
    t.ok(err instanceof TemplateError, what);
    t.match(err, { code: 'TEMPLATE_INJECTION', key: /^service:/, message }, what);
    t.match((err as Error).message, /^p\.hbs:1:\d+: .*; nothing was rendered$/, `${what}: located, and the old file stays`);
  }
});

t.test('what a template makes of a catalog string is refused too (upper case, printf, join)', async (t) => {
  const e = engineWith(t, { 'u.hbs': '{{#each (service "web")}}{{toUpper Meta.w}}{{/each}}', 'p.hbs': '{{#each (service "web")}}{{printf "w=%s;" Meta.w}}{{/each}}' });
  const d = one({ meta: { w: '1 source 0.0.0.0' } });
  await t.rejects(e.render('u.hbs', [], { services: d }), { code: 'TEMPLATE_INJECTION', message: /Meta\["w"\]/ });
  await t.rejects(e.render('p.hbs', [], { services: d }), { code: 'TEMPLATE_INJECTION', message: /Meta\["w"\]/ });
});

t.test('the service list: a name or tag HAProxy would split is refused, naming the datacenter and the service', async (t) => {
  const e = engineWith(t, { 'l.hbs': '{{#each (services)}}{{Name}}={{join Tags ","}} {{/each}}' });
  const d = data({ catalog: new Map<string, Record<string, string[]>>([['', { web: ['v1'], shop: ['x y'] }]]) });
  await t.rejects(e.render('l.hbs', [], { services: d }), { code: 'TEMPLATE_INJECTION', key: 'services:/shop', message: /the services of the local datacenter: service "shop": Tags\[0\] "x y" holds whitespace/ });
});

t.test('a catalog string the template does not write is harmless, and so are spaces of the template or the KV data', async (t) => {
  const e = engineWith(t, { 'h.hbs': '{{#each (service "web")}}server {{ID}} {{Address}}:{{Port}} # {{getv "/note"}} {{join Tags " "}}\n{{/each}}' });
  const d = one({ meta: { owner: 'team "blue" #ops $x %y' }, nodeMeta: { rack: 'r 1' }, tags: ['v1', 'v2'] });
  t.equal(await e.render('h.hbs', [{ key: '/note', value: 'from KV, with spaces' }], { services: d }), 'server web-1 10.0.0.1:80 # from KV, with spaces v1 v2\n');
});

t.test('with catalog recovery a refused instance is left out, told once, and everything else renders', async (t) => {
  const e = engineWith(t, { 'r.hbs': '{{#each (service "web" "any")}}server {{ID}} {{Address}}:{{Port}} weight {{Meta.w}}\n{{/each}}' });
  const d = data({
    health: new Map([
      [
        'web',
        [
          instance({ id: 'web-1', node: 'n1', meta: { w: '10', owner: 'a b' } }),
          instance({ id: 'web-2', node: 'n2', meta: { w: '1 source 0.0.0.0 #' } }),
          instance({ id: 'web-3', node: 'n3', meta: { w: '2' }, tags: ['x y'] }),
          // Shares the refused text in a field it does not write: the guard cannot tell them apart.
          instance({ id: 'web-4', node: 'n4', meta: { w: '3', copy: '1 source 0.0.0.0 #' } }),
        ],
      ],
    ]),
  });
  const refused: [string, string][] = [];
  const out = await e.render('r.hbs', [], { services: d, catalog: { refused: (key, message) => void refused.push([key, message]) } });
  t.equal(out, 'server web-1 10.0.0.1:80 weight 10\nserver web-3 10.0.0.1:80 weight 2\n');
  t.same(
    refused.map(([k]) => k),
    ['service:web@dc1/n2/web-2', 'service:web@dc1/n4/web-4'],
  );
  t.match(refused[0]![1], /^r\.hbs:1:\d+: service "web" instance "web-2" on node "n2": Meta\["w"\] "1 source 0\.0\.0\.0 #" holds whitespace or control characters and '#': HAProxy would not read it as one word$/);
  t.match(refused[1]![1], /instance "web-4" on node "n4": Meta\["copy"\]/);
});

t.test('recovery gives up after a few renders when each one writes a new bad instance', async (t) => {
  const e = engineWith(t, { 'f.hbs': '{{#with (lookup (service "web") 0)}}server {{ID}}{{/with}}' });
  const bad = Array.from({ length: 10 }, (_, n) => instance({ id: `bad ${n}`, node: `n${n}` }));
  const refused: string[] = [];
  const err = await e.render('f.hbs', [], { services: data({ health: new Map([['web', bad]]) }), catalog: { refused: (key) => void refused.push(key) } }).catch((x: unknown) => x);
  t.match(err, { code: 'TEMPLATE_INJECTION', message: /instance "bad 4"/ }, 'the render fails, its old file stays');
  t.equal(refused.length, 4, 'after four instances were left out');
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
