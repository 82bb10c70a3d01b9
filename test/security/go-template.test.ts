// A Go template (.tmpl) gets the same protections as a Handlebars one. Its actions may not bring a
// line break or NUL from data into the output (a store value, a JSON string's "\n" escape, a base64
// text, an environment variable): the render is refused naming the template's file:line:col. getenv
// reads only the names a bundle's instance allows. A render that loops or grows without end is
// stopped at the render time and size limits. Line breaks the template writes itself (println, a
// "\n" in a literal) are kept, as confd keeps them, when no data the render read holds one.
import t from 'tap';
import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createIsolatedEngine, TemplateError } from '@confd-haproxy/template';
import { createTemplateEngine } from '@confd-haproxy/template/engine';

const pairs = (kv: Record<string, string>) => Object.entries(kv).map(([key, value]) => ({ key, value }));

async function renderOne(t: Test, template: string, kv: Record<string, string>, opts: { env?: Record<string, string>; envNames?: string[] } = {}) {
  const dir = t.testdir({ 't.tmpl': template });
  const engine = createTemplateEngine({ templatesDir: dir, env: opts.env ?? {}, ...(opts.envNames ? { envNames: opts.envNames } : {}) });
  try {
    return { out: await engine.render('t.tmpl', pairs(kv)) };
  } catch (err) {
    return { err: err as TemplateError };
  }
}

t.test('a store value holding LF cannot add a line through an action', async (t) => {
  const r = await renderOne(t, 'listen a\n    server {{getv "/haproxy/s1"}}\n', { '/haproxy/s1': '10.0.0.1:3306\n    server evil 6.6.6.6:3306' });
  t.equal(r.out, undefined, 'nothing rendered');
  t.equal(r.err?.code, 'TEMPLATE_INJECTION');
  t.match(r.err?.message, /^t\.tmpl:2:14: this action would write LF, and \/haproxy\/s1 holds such characters/);
  t.equal(r.err?.key, '/haproxy/s1');
});

t.test('a JSON string\'s "\\n" escape and a base64 text are data too', async (t) => {
  const viaJson = await renderOne(t, '{{$d := json (getv "/haproxy/s1")}}server {{$d.host}}\n', { '/haproxy/s1': '{"host":"10.0.0.1\\n    server evil 6.6.6.6"}' });
  t.equal(viaJson.err?.code, 'TEMPLATE_INJECTION', 'json');
  const viaUnicode = await renderOne(t, '{{range jsonArray (getv "/haproxy/l")}}server {{.}}\n{{end}}', { '/haproxy/l': '["a", "b\\u000Aserver evil"]' });
  t.equal(viaUnicode.err?.code, 'TEMPLATE_INJECTION', 'jsonArray with a \\u000A escape');
  const viaBase64 = await renderOne(t, 'server {{base64Decode (getv "/haproxy/b")}}\n', { '/haproxy/b': Buffer.from('a\nb').toString('base64') });
  t.equal(viaBase64.err?.code, 'TEMPLATE_INJECTION', 'base64Decode');
  const viaEnv = await renderOne(t, 'server {{getenv "X"}}\n', {}, { env: { X: 'a\r\nb' } });
  t.equal(viaEnv.err?.code, 'TEMPLATE_INJECTION', 'getenv');
});

t.test("the template's own line breaks are confd's output when no data holds one", async (t) => {
  const r = await renderOne(t, '{{println "a" 1}}{{printf "%s\\n" (getv "/k")}}', { '/k': 'v' }, { env: { UNREAD: 'a variable\nthe template never reads' } });
  t.equal(r.out, 'a 1\nv\n');
});

t.test('getenv reads only the names the instance allows, default or not', async (t) => {
  const r = await renderOne(t, '{{getenv "CONSUL_HTTP_TOKEN" "none"}}', {}, { env: { CONSUL_HTTP_TOKEN: 'secret', HOSTNAME: 'h' }, envNames: ['HOSTNAME'] });
  t.equal(r.err?.code, 'TEMPLATE_NOT_ALLOWED');
  t.notMatch(r.err?.message ?? '', /secret/);
  const ok = await renderOne(t, '{{getenv "HOSTNAME"}}', {}, { env: { HOSTNAME: 'h' }, envNames: ['HOSTNAME'] });
  t.equal(ok.out, 'h');
});

t.test('a Go template that loops or grows without end is stopped at the render limits', async (t) => {
  const dir = t.testdir({ 'loop.tmpl': '{{range seq 1 99999}}{{range seq 1 99999}}{{end}}{{end}}', 'huge.tmpl': `{{range seq 1 100000}}${'y'.repeat(1023)}\n{{end}}` });
  const engine = createIsolatedEngine({ templatesDir: dir, env: {}, budget: { timeoutMs: 1000, maxBytes: 1024 * 1024 } });
  t.teardown(() => engine.close());
  await t.rejects(engine.render('huge.tmpl', []), { code: 'TEMPLATE_TOO_LARGE' });
  const started = Date.now();
  await t.rejects(engine.render('loop.tmpl', []), { code: 'TEMPLATE_TIMEOUT' });
  t.ok(Date.now() - started < 30_000, 'stopped near its limit');
  writeFileSync(join(dir, 'ok.tmpl'), 'ok {{len (seq 1 3)}}');
  t.equal(await engine.render('ok.tmpl', []), 'ok 3', 'the engine goes on after a stopped render');
});
