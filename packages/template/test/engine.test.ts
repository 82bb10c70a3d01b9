import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createTemplateEngine } from '@confd-haproxy/template';

function engineWith(t: Test, files: Parameters<Test['testdir']>[0], env: Record<string, string> = {}) {
  const dir = t.testdir(files);
  return createTemplateEngine({ templatesDir: dir, env, now: () => new Date('2026-11-24T10:00:00Z') });
}
const entry = (o: Record<string, unknown>) => JSON.stringify({ name: 's1', host: '10.0.0.1', port: 3301, proxyport: 13351, ...o });
const listen = '{{#each (gets "/haproxy/mysqlslave/*")}}{{#with (json Value)}}server {{name}} {{host}}:{{port}}\n{{/with}}{{/each}}';

t.test('helpers behave like confd functions', async (t) => {
  const e = engineWith(t, {
    'h.hbs': [
      '{{base "/a/b/c"}} {{dir "/a/b/c"}} {{toUpper "ab"}} {{toLower "AB"}} {{contains "haproxy" "prox"}}',
      '{{replace "a.b.c" "." "_" -1}} {{replace "a.b.c" "." "_" 1}} {{trimSuffix "name.cfg" ".cfg"}}',
      '{{join (split "a,b,c" ",") "|"}} {{join (reverse (split "a,b,c" ",")) ""}} {{join (sortByLength (split "ccc,a,bb" ",")) ","}}',
      '{{join (seq 1 4) ","}} {{add 2 3}} {{sub 5 3}} {{mul 4 5}} {{div 7 2}} {{mod 7 2}} {{atoi "42"}} {{parseBool "true"}}',
      '{{base64Encode "hi"}} {{base64Decode "aGk="}} {{getenv "ZONE" "none"}} {{getenv "NOPE" "dflt"}} {{datetime}}',
      '{{#with (map "a" 1 "b" 2)}}{{a}}{{b}}{{/with}} {{#each (jsonArray (getv "/list"))}}{{this}};{{/each}} {{fileExists "/nonexistent"}}',
      '{{#each (sortKVByLength (gets "/k/*"))}}{{Key}} {{/each}}',
    ].join('\n'),
  }, { ZONE: 'eu' });
  const out = await e.render('h.hbs', [
    { key: '/list', value: '["x","y"]' },
    { key: '/k/long', value: '1' },
    { key: '/k/s', value: '2' },
  ]);
  t.equal(
    out,
    [
      'c /a/b AB ab true',
      'a_b_c a_b.c name',
      'a|b|c cba a,bb,ccc',
      '1,2,3,4 5 2 20 3 1 42 true',
      'aGk= hi eu dflt 2026-11-24T10:00:00.000Z',
      '12 x;y; false',
      '/k/s /k/long ',
    ].join('\n'),
  );
});

t.test('gets matches like Go path.Match: * never crosses a slash', async (t) => {
  const e = engineWith(t, { 'g.hbs': '{{#each (gets "/a/*")}}{{Key}} {{/each}}' });
  t.equal(await e.render('g.hbs', [{ key: '/a/x', value: '' }, { key: '/a/y/z', value: '' }, { key: '/ab', value: '' }]), '/a/x ');
});

t.test('lookupIP resolves names before the final render', async (t) => {
  const e = engineWith(t, { 'l.hbs': '{{#each (lookupIPV4 "localhost")}}{{this}}{{/each}}' });
  t.equal(await e.render('l.hbs', []), '127.0.0.1');
});

t.test('a value with a newline in a parsed field fails the render, naming the key', async (t) => {
  const e = engineWith(t, { 'x.hbs': listen });
  await t.rejects(e.render('x.hbs', [{ key: '/haproxy/mysqlslave/s1', value: entry({ host: '10.0.0.1\nlisten evil' }) }]), {
    code: 'TEMPLATE_INJECTION',
    message: /x\.hbs: the value of \/haproxy\/mysqlslave\/s1 holds a CR, LF or NUL/,
  });
});

t.test('a raw value with NUL or CR fails even through triple-stash and helpers', async (t) => {
  const e = engineWith(t, { 'y.hbs': 'a {{{getv "/raw"}}}', 'z.hbs': 'b {{toUpper (getv "/raw")}}' });
  await t.rejects(e.render('y.hbs', [{ key: '/raw', value: 'ok\u0000bad' }]), { code: 'TEMPLATE_INJECTION', message: /\/raw/ });
  await t.rejects(e.render('z.hbs', [{ key: '/raw', value: 'ok\rbad' }]), { code: 'TEMPLATE_INJECTION', message: /\/raw/ });
});

t.test('newlines written in the template itself are fine, and pretty JSON values too', async (t) => {
  const e = engineWith(t, { 'n.hbs': listen });
  const pretty = JSON.stringify({ name: 's1', host: '10.0.0.1', port: 3301, proxyport: 13351 }, null, 2);
  t.equal(await e.render('n.hbs', [{ key: '/haproxy/mysqlslave/s1', value: pretty }]), 'server s1 10.0.0.1:3301\n');
});

t.test('bad templates and data are errors naming the file and the problem', async (t) => {
  const e = engineWith(t, {
    'syntax.hbs': 'listen {{name}\n',
    'helper.hbs': '{{nosuchhelper "x"}}',
    'partial.hbs': '{{> nosuchpartial}}',
    'missing.hbs': '{{getv "/not/there"}}',
    'json.hbs': listen,
  });
  await t.rejects(e.render('syntax.hbs', []), { code: 'TEMPLATE_SYNTAX', message: /^syntax\.hbs: Parse error on line 1/ });
  await t.rejects(e.render('helper.hbs', []), { code: 'TEMPLATE_HELPER', message: /^helper\.hbs: Missing helper: "nosuchhelper"/ });
  await t.rejects(e.render('partial.hbs', []), { code: 'TEMPLATE_PARTIAL', message: /^partial\.hbs: .*nosuchpartial/ });
  await t.rejects(e.render('missing.hbs', []), { code: 'TEMPLATE_MISSING_KEY', message: /key does not exist: \/not\/there/ });
  await t.rejects(e.render('json.hbs', [{ key: '/haproxy/mysqlslave/s1', value: '{"name": "s1",' }]), {
    code: 'TEMPLATE_BAD_VALUE',
    message: /json\.hbs: \/haproxy\/mysqlslave\/s1: json: value is not JSON/,
  });
  await t.rejects(e.render('absent.hbs', []), { code: 'TEMPLATE_NOT_FOUND' });
});

t.test('partials come from templates/partials, and reset picks up edits', async (t) => {
  const dir = t.testdir({ 'main.hbs': '[{{> svc}}]', partials: { 'svc.hbs': 'one' } });
  const e = createTemplateEngine({ templatesDir: dir });
  t.equal(await e.render('main.hbs', []), '[one]');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'partials/svc.hbs'), 'two');
  t.equal(await e.render('main.hbs', []), '[one]', 'cached until reset');
  e.reset();
  t.equal(await e.render('main.hbs', []), '[two]');
});
