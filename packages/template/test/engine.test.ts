import t from 'tap';
import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HELPER_NAMES, TemplateError, type TemplatePair } from '@confd-haproxy/template';
import { createTemplateEngine } from '@confd-haproxy/template/engine';

type Files = Parameters<Test['testdir']>[0];
function engineWith(t: Test, files: Files, env: Record<string, string> = {}) {
  const dir = t.testdir(files);
  return createTemplateEngine({ templatesDir: dir, env, now: () => new Date('2026-11-24T10:00:00Z') });
}
const entry = (o: Record<string, unknown>) => JSON.stringify({ name: 's1', host: '10.0.0.1', port: 3301, proxyport: 13351, ...o });
const listen = '{{#each (gets "/haproxy/mysqlslave/*")}}{{#with (json Value)}}listen {{name}}\n    server {{name}}-mysql {{host}}:{{port}}\n{{/with}}{{/each}}';
const kv = (o: Record<string, string>): TemplatePair[] => Object.entries(o).map(([key, value]) => ({ key, value }));

t.test('every confd template function is available', async (t) => {
  const confd = 'exists get gets getv getvs ls lsdir base dir split join toUpper toLower contains replace trimSuffix json jsonArray map getenv datetime fileExists lookupIP lookupIPV4 lookupIPV6 lookupSRV base64Encode base64Decode parseBool atoi reverse sortByLength sortKVByLength seq add sub mul div mod';
  for (const name of confd.split(' ')) t.ok(HELPER_NAMES.includes(name), name);
});

t.test('string, list and number helpers behave like confd functions, also as subexpressions', async (t) => {
  const e = engineWith(t, {
    'h.hbs': [
      '{{base "/a/b/c"}} {{base "/a/b/"}} {{dir "/a/b/c"}} {{dir "c"}} {{toUpper "ab"}} {{toLower "AB"}} {{contains "haproxy" "prox"}}',
      '{{replace "a.b.c" "." "_" -1}} {{replace "a.b.c" "." "_" 1}} {{trimSuffix "name.cfg" ".cfg"}} {{trimSuffix "name" ".cfg"}}',
      '{{join (split "a,b,c" ",") "|"}} {{join (reverse (split "a,b,c" ",")) ""}} {{join (sortByLength (split "ccc,a,bb" ",")) ","}}',
      '{{join (seq 1 4) ","}} {{add 2 3}} {{sub 5 3}} {{mul 4 5}} {{div 7 2}} {{mod 7 2}} {{add (atoi "40") 2}} {{parseBool "true"}} {{parseBool "0"}}',
      '{{base64Encode "hi"}} {{base64Decode "aGk="}} {{getenv "ZONE" "none"}} {{getenv "NOPE" "dflt"}} {{getenv "NOPE"}}. {{datetime}}',
      '{{#with (map "a" 1 "b" 2)}}{{a}}{{b}}{{/with}} {{#each (jsonArray (getv "/list"))}}{{this}};{{/each}} {{fileExists "/nonexistent"}} {{fileExists "h.hbs"}}',
      '{{#each (sortKVByLength (gets "/k/*"))}}{{Key}} {{/each}}{{printf "%s-%d" "x" 7}} {{eq 1 "1"}} {{ne "a" "b"}} {{slug "10.0.0.1" 3306}}',
    ].join('\n'),
  }, { ZONE: 'eu' });
  const out = await e.render('h.hbs', kv({ '/list': '["x","y"]', '/k/long': '1', '/k/s': '2' }));
  t.equal(
    out,
    [
      'c b /a/b . AB ab true',
      'a_b_c a_b.c name name',
      'a|b|c cba a,bb,ccc',
      '1,2,3,4 5 2 20 3 1 42 true false',
      'aGk= hi eu dflt . 2026-11-24T10:00:00.000Z',
      '12 x;y; false false',
      '/k/s /k/long x-7 true true 10_0_0_1_3306',
    ].join('\n'),
  );
});

t.test('getenv reads only the env option, never the process environment', async (t) => {
  t.ok(process.env.PATH, 'the process has a PATH');
  const e = engineWith(t, { 'g.hbs': '{{getenv "PATH" "none"}}' });
  t.equal(await e.render('g.hbs', []), 'none');
});

t.test('with envNames, getenv reads only those names and fails naming any other, default or not', async (t) => {
  const dir = t.testdir({ 'ok.hbs': '{{getenv "ZONE"}} {{getenv "UNSET" "dflt"}}', 'token.hbs': '{{getenv "TOKEN" "none"}}' });
  const e = createTemplateEngine({ templatesDir: dir, env: { ZONE: 'eu', TOKEN: 'secret' }, envNames: ['ZONE', 'UNSET'] });
  t.equal(await e.render('ok.hbs', []), 'eu dflt');
  await t.rejects(e.render('token.hbs', []), { code: 'TEMPLATE_NOT_ALLOWED', message: /^token\.hbs:1:\d+: getenv: "TOKEN" is not an environment variable these templates may read \(the instance allows it with --allow-env TOKEN\)$/ });
});

t.test('gets and getvs follow confd: pairs sorted by key, values sorted by value, * never crosses a slash', async (t) => {
  const e = engineWith(t, {
    'g.hbs': '{{#each (gets "/a/*")}}{{Key}}={{Value}} {{/each}}| {{join (getvs "/a/*") ","}} | {{#each (gets "/a/x?")}}{{Key}} {{/each}}| {{#each (gets "/a/[xy]*")}}{{Key}} {{/each}}| {{#each (gets "/a/[^x]*")}}{{Key}} {{/each}}',
  });
  const data = kv({ '/a/y': 'aa', '/a/x': 'zz', '/a/x2': 'mm', '/a/y/z': 'deep', '/ab': 'sibling', 'a/w': 'no slash given' });
  t.equal(await e.render('g.hbs', data), '/a/w=no slash given /a/x=zz /a/x2=mm /a/y=aa | aa,mm,no slash given,zz | /a/x2 | /a/x /a/x2 /a/y | /a/w /a/y ');
});

t.test('ls lists direct children and lsdir only those that have children, both sorted', async (t) => {
  const e = engineWith(t, { 'l.hbs': '{{join (ls "/svc") ","}} | {{join (lsdir "/svc") ","}} | {{join (ls "/svc/") ","}} | {{join (ls "/none") ","}}' });
  const data = kv({ '/svc/b/x': '1', '/svc/a': '2', '/svc/c/d/e': '3', '/svcs/q': '4' });
  t.equal(await e.render('l.hbs', data), 'a,b,c | b,c | a,b,c | ');
});

t.test('get and getv name the missing key; getv with a default does not fail', async (t) => {
  const e = engineWith(t, {
    'get.hbs': 'x\n  {{#with (get "/not/there")}}{{Value}}{{/with}}',
    'getv.hbs': '{{getv "/not/there"}}',
    'dflt.hbs': '{{getv "/not/there" "fallback"}} {{#with (get "/here")}}{{Key}}={{Value}}{{/with}}',
  });
  await t.rejects(e.render('get.hbs', []), { name: 'TemplateError', code: 'TEMPLATE_MISSING_KEY', key: '/not/there', line: 2, message: /^get\.hbs:2:\d+: get: key does not exist: \/not\/there/ });
  await t.rejects(e.render('getv.hbs', []), { code: 'TEMPLATE_MISSING_KEY', message: /^getv\.hbs:1:1: getv: key does not exist: \/not\/there/ });
  t.equal(await e.render('dflt.hbs', kv({ here: 'v' })), 'fallback /here=v');
});

t.test('a value that is not JSON fails naming the key and the JSON problem', async (t) => {
  const e = engineWith(t, { 'j.hbs': listen, 'a.hbs': '{{#each (jsonArray (getv "/list"))}}{{this}}{{/each}}' });
  await t.rejects(e.render('j.hbs', kv({ '/haproxy/mysqlslave/s1': '{"name": "s1",' })), {
    code: 'TEMPLATE_BAD_VALUE',
    key: '/haproxy/mysqlslave/s1',
    message: /^j\.hbs:1:\d+: \/haproxy\/mysqlslave\/s1: json: value is not JSON \(.*JSON.*\)/,
  });
  await t.rejects(e.render('j.hbs', kv({ '/haproxy/mysqlslave/s1': '[1,2]' })), { code: 'TEMPLATE_BAD_VALUE', message: /\/haproxy\/mysqlslave\/s1: json: value is not a JSON object/ });
  await t.rejects(e.render('a.hbs', kv({ '/list': '{"a":1}' })), { code: 'TEMPLATE_BAD_VALUE', key: '/list', message: /\/list: jsonArray: value is not a JSON array/ });
});

t.test("entry refuses a value whose name is not its key's tag, naming the key", async (t) => {
  const e = engineWith(t, { 'e.hbs': '{{#each (gets "/haproxy/*/*")}}{{#with (entry Value)}}listen {{name}}\n{{/with}}{{/each}}' });
  t.equal(await e.render('e.hbs', kv({ '/haproxy/mysqlslave/s1': entry({}) })), 'listen s1\n');
  await t.rejects(e.render('e.hbs', kv({ '/haproxy/memcached/m1': entry({}) })), {
    code: 'TEMPLATE_BAD_VALUE',
    key: '/haproxy/memcached/m1',
    message: /\/haproxy\/memcached\/m1: entry: name "s1" is not the key's tag "m1"/,
  });
});

t.test('entry judges the pair it is called on, even when another key holds the same text', async (t) => {
  const e = engineWith(t, { 'e.hbs': '{{#each (gets "/haproxy/*/*")}}{{#with (entry Value)}}{{../Key}}: listen {{name}}\n{{/with}}{{/each}}' });
  const refused: string[] = [];
  const recovery = { lastGood: () => undefined, accepted: () => {}, refused: (key: string) => void refused.push(key) };
  // /haproxy/memcached/m1 sorts first and holds a copy of s1's entry: only the copy is refused.
  const out = await e.render('e.hbs', kv({ '/haproxy/memcached/m1': entry({}), '/haproxy/mysqlslave/s1': entry({}) }), { entries: recovery });
  t.equal(out, '/haproxy/mysqlslave/s1: listen s1\n');
  t.same(refused, ['/haproxy/memcached/m1']);
});

t.test('an entry with a newline in its host field fails the render, naming the key, the file and the line', async (t) => {
  const e = engineWith(t, { 'x.hbs': listen, 'p.hbs': 'global\n{{> svc}}', partials: { 'svc.hbs': listen } });
  const data = kv({ '/haproxy/mysqlslave/s0': entry({ name: 's0' }), '/haproxy/mysqlslave/s1': entry({ host: '10.0.0.1\nlisten evil' }) });
  await t.rejects(e.render('x.hbs', data), {
    code: 'TEMPLATE_INJECTION',
    key: '/haproxy/mysqlslave/s1',
    message: /^x\.hbs:2:\d+: the value of \/haproxy\/mysqlslave\/s1 holds LF: writing it would inject configuration lines \("10\.0\.0\.1\\nlisten evil"\); nothing was rendered$/,
  });
  // Inside a partial the location is the partial's own file.
  await t.rejects(e.render('p.hbs', data), { code: 'TEMPLATE_INJECTION', file: 'partials/svc.hbs', message: /^partials\/svc\.hbs:2:\d+: the value of \/haproxy\/mysqlslave\/s1/ });
});

t.test('a raw value with NUL or CR fails through triple-stash, {{& }} and helpers', async (t) => {
  const e = engineWith(t, { 'y.hbs': 'a {{{getv "/raw"}}}', 'amp.hbs': 'a {{& getv "/raw"}}', 'z.hbs': 'b {{toUpper (getv "/raw")}}', 'l.hbs': '{{#each (split (getv "/raw") ",")}}{{this}}{{/each}}' });
  await t.rejects(e.render('y.hbs', kv({ '/raw': 'ok\u0000bad' })), { code: 'TEMPLATE_INJECTION', key: '/raw', message: /the value of \/raw holds NUL/ });
  await t.rejects(e.render('amp.hbs', kv({ '/raw': 'ok\u0000bad' })), { code: 'TEMPLATE_INJECTION', key: '/raw' });
  await t.rejects(e.render('z.hbs', kv({ '/raw': 'ok\rbad' })), { code: 'TEMPLATE_INJECTION', key: '/raw', message: /holds CR/ });
  await t.rejects(e.render('l.hbs', kv({ '/raw': 'a,b\nlisten x' })), { code: 'TEMPLATE_INJECTION', key: '/raw' });
});

t.test('a line break made from KV data by a helper is refused too', async (t) => {
  const e = engineWith(t, { 'b.hbs': '{{base64Decode (getv "/b64")}}' });
  await t.rejects(e.render('b.hbs', kv({ '/b64': Buffer.from('x\nlisten evil').toString('base64') })), { code: 'TEMPLATE_INJECTION', message: /^b\.hbs:1:1: an interpolated value holds LF/ });
});

t.test('no template construct writes a KV value around the guard', async (t) => {
  const data = kv({ '/raw': 'a\nlisten evil', '/j': JSON.stringify({ host: 'h\nlisten evil', 'k\ney': 1 }) });
  const attempts: Record<string, string> = {
    'block-helper.hbs': 'x {{#getv "/raw"}}{{/getv}}',
    'block-lookup.hbs': '{{#with (json (getv "/j"))}}{{#lookup . "host"}}{{/lookup}}{{/with}}',
    'lookup.hbs': '{{#with (json (getv "/j"))}}{{lookup . "host"}}{{/with}}',
    'raw-block.hbs': '{{{{getv "/raw"}}}}{{{{/getv}}}}',
    'each-key.hbs': '{{#each (json (getv "/j"))}}{{@key}} {{/each}}',
    'inline-partial.hbs': '{{#*inline "p"}}{{{v}}}{{/inline}}{{> p v=(getv "/raw")}}',
    'partial-hash.hbs': '{{> show v=(getv "/raw")}}',
    'with-this.hbs': '{{#with (getv "/raw")}}{{{this}}}{{/with}}',
    'block-missing.hbs': '{{#each (getvs "/*")}}{{.}}{{/each}}',
  };
  const e = engineWith(t, { ...attempts, partials: { 'show.hbs': '{{{v}}}' } });
  for (const name of Object.keys(attempts)) {
    const res = await e.render(name, data).then(
      (out) => ({ out }),
      (err: unknown) => ({ err: err as TemplateError }),
    );
    t.ok('err' in res && ['TEMPLATE_INJECTION', 'TEMPLATE_HELPER'].includes(res.err.code), `${name} is refused (${'err' in res ? res.err.message : JSON.stringify(res.out)})`);
  }
});

t.test('newlines written in the template itself are fine, and so are pretty-printed JSON values', async (t) => {
  const e = engineWith(t, { 'n.hbs': listen });
  const pretty = JSON.stringify({ name: 's1', host: '10.0.0.1', port: 3301, proxyport: 13351 }, null, 2);
  t.equal(await e.render('n.hbs', kv({ '/haproxy/mysqlslave/s1': pretty })), 'listen s1\n    server s1-mysql 10.0.0.1:3301\n');
});

t.test('DNS lookups are answered in passes before the final render', async (t) => {
  const e = engineWith(t, {
    'l.hbs': '{{#each (lookupIPV4 "localhost")}}{{this}}{{/each}} [{{#each (lookupIPV4 "does-not-exist.invalid")}}{{this}}{{/each}}] {{contains (join (lookupIP "localhost") ",") "127.0.0.1"}}',
    // The second name is only known once the first is answered.
    'chain.hbs': '{{#each (lookupIPV4 "localhost")}}{{#each (lookupIPV4 this)}}={{this}}{{/each}}{{/each}}',
  });
  t.equal(await e.render('l.hbs', []), '127.0.0.1 [] true');
  t.equal(await e.render('chain.hbs', []), '=127.0.0.1');
});

t.test('bad templates are errors naming the file, the line and the problem', async (t) => {
  const e = engineWith(t, {
    'syntax.hbs': 'global\nlisten {{name}\n',
    'helper.hbs': 'a\n  {{nosuchhelper "x"}}',
    'partial.hbs': '{{> nosuchpartial}}',
    'block.hbs': '{{#toUpper "x"}}y{{/toUpper}}',
    'args.hbs': '{{getv}}',
    'bad-pattern.hbs': '{{gets "/a/[x"}}',
  });
  await t.rejects(e.render('syntax.hbs', []), { code: 'TEMPLATE_SYNTAX', line: 2, message: /^syntax\.hbs:2: Parse error on line 2/ });
  await t.rejects(e.render('helper.hbs', []), { code: 'TEMPLATE_HELPER', message: /^helper\.hbs:2:3: unknown template function "nosuchhelper"$/ });
  await t.rejects(e.render('partial.hbs', []), { code: 'TEMPLATE_PARTIAL', message: /^partial\.hbs:1:1: partial "nosuchpartial" not found/ });
  await t.rejects(e.render('block.hbs', []), { code: 'TEMPLATE_HELPER', message: /^block\.hbs:1:1: toUpper is not a block helper/ });
  await t.rejects(e.render('args.hbs', []), { code: 'TEMPLATE_HELPER', message: /getv: takes 1 to 2 arguments, got 0/ });
  await t.rejects(e.render('bad-pattern.hbs', []), { code: 'TEMPLATE_HELPER', message: /bad pattern "\/a\/\[x"/ });
  await t.rejects(e.render('absent.hbs', []), { code: 'TEMPLATE_NOT_FOUND', message: /^absent\.hbs: cannot read the template/ });
});

t.test('partials are every file under templates/partials, by basename, and reset picks up edits', async (t) => {
  const dir = t.testdir({
    'main.hbs': '[{{> svc}}|{{> deep}}]',
    partials: { 'svc.hbs': 'one', sub: { 'deep.tmpl': 'deep' }, '.svc.hbs.swp': 'editor junk', 'svc.hbs~': 'backup junk' },
  });
  const e = createTemplateEngine({ templatesDir: dir });
  t.equal(await e.render('main.hbs', []), '[one|deep]');
  writeFileSync(join(dir, 'partials/svc.hbs'), 'two');
  writeFileSync(join(dir, 'main.hbs'), '<{{> svc}}>');
  t.equal(await e.render('main.hbs', []), '[one|deep]', 'compiled once and cached until reset');
  e.reset();
  t.equal(await e.render('main.hbs', []), '<two>');
  t.equal(await e.render(join(dir, 'main.hbs'), []), '<two>', 'an absolute path works too');
});

t.test('two partials with the same name are an error naming both files', async (t) => {
  const e = engineWith(t, { 'main.hbs': '{{> svc}}', partials: { 'svc.hbs': 'a', x: { 'svc.hbs': 'b' } } });
  await t.rejects(e.render('main.hbs', []), { code: 'TEMPLATE_PARTIAL', message: /partial "svc" is defined twice \(partials\/svc\.hbs and partials\/x\/svc\.hbs\)/ });
});

t.test('a template that failed to compile is re-read after it is fixed and the engine reset', async (t) => {
  const dir = t.testdir({ 'main.hbs': '{{#each}}' });
  const e = createTemplateEngine({ templatesDir: dir });
  await t.rejects(e.render('main.hbs', []), { code: 'TEMPLATE_SYNTAX' });
  writeFileSync(join(dir, 'main.hbs'), 'fixed');
  e.reset();
  t.equal(await e.render('main.hbs', []), 'fixed');
});
