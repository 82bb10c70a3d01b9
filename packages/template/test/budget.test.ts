// A render's budget: the output stops at the size limit wherever it grows (a loop, a partial, a
// helper, the whole), and the isolated engine stops a render at its time limit without blocking
// the thread that asked for it.
import t from 'tap';
import type { Test } from 'tap';
import { createInlineEngine, createIsolatedEngine, TemplateError, type EntryRecovery } from '@confd-haproxy/template';
import { createTemplateEngine } from '@confd-haproxy/template/engine';

type Files = Parameters<Test['testdir']>[0];
const LOOP = '{{#each (seq 1 99999)}}{{#each (seq 1 99999)}}x{{/each}}{{/each}}';

/** How often a 20 ms timer of this thread ran until the returned function is called. */
function tickCounter(): () => number {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  return () => {
    clearInterval(timer);
    return ticks;
  };
}

async function failure(what: Promise<unknown>): Promise<TemplateError> {
  const err = await what.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof TemplateError)) throw new Error(`expected a TemplateError, got ${String(err)}`);
  return err;
}

t.test('output past the size limit fails naming the limit and where it grew: a loop, a partial, a helper, the whole', async (t) => {
  const doubling = Array.from({ length: 30 }, (_, i) => `{{#*inline "p${i + 1}"}}{{> p${i}}}{{> p${i}}}{{/inline}}`).join('');
  const files: Files = {
    'loop.hbs': '{{#each (seq 1 2000)}}x{{/each}}',
    'partials.hbs': `{{#*inline "p0"}}yy{{/inline}}${doubling}{{> p30}}`,
    'helper.hbs': 'ok\n{{join (seq 1 5000) ","}}',
    'whole.hbs': `${'a'.repeat(600)}{{> half}}`,
    'bytes.hbs': 'é'.repeat(600),
    'fits.hbs': `{{#each (seq 1 999)}}x{{/each}}\n`,
    partials: { 'half.hbs': 'b'.repeat(600) },
  };
  const e = createTemplateEngine({ templatesDir: t.testdir(files), maxBytes: 1000 });
  const cases: Array<[string, RegExp]> = [
    ['loop.hbs', /^loop\.hbs:1:1: the output grew past 1000 bytes, the render size limit \(--render-max-size\); rendering stopped$/],
    ['partials.hbs', /^partials\.hbs: the output grew past 1000 bytes/],
    ['helper.hbs', /^helper\.hbs:2:1: the output grew past 1000 bytes/],
    ['whole.hbs', /^whole\.hbs: the output grew past 1000 bytes/],
    ['bytes.hbs', /^bytes\.hbs: the output grew past 1000 bytes/],
  ];
  for (const [src, message] of cases) {
    const err = await failure(e.render(src, []));
    t.equal(err.code, 'TEMPLATE_TOO_LARGE', src);
    t.match(err.message, message);
    t.equal(err.category, 'data', 'bad input: exit 65');
  }
  t.equal((await e.render('fits.hbs', [])).length, 1000, 'exactly the limit renders');
});

t.test('a template that loops for ever fails at the time limit while the asking thread stays free, and the next render works', async (t) => {
  const e = createIsolatedEngine({ templatesDir: t.testdir({ 'loop.hbs': LOOP, 'ok.hbs': 'name {{getv "/name"}}\n' }), budget: { timeoutMs: 500 } });
  t.teardown(() => e.close());
  t.equal(await e.render('ok.hbs', [{ key: '/name', value: 'before' }]), 'name before\n');
  const ticks = tickCounter();
  const t0 = performance.now();
  const err = await failure(e.render('loop.hbs', []));
  const took = performance.now() - t0;
  const ticked = ticks();
  t.equal(err.code, 'TEMPLATE_TIMEOUT');
  t.equal(err.message, 'loop.hbs: rendering took longer than 500 ms, the render time limit (--render-timeout); it was stopped');
  t.equal(err.file, 'loop.hbs');
  t.ok(took >= 500 && took < 10_000, `stopped after ${Math.round(took)} ms`);
  t.ok(ticked >= 5, `this thread's timer ran ${ticked} times while the template looped`);
  t.equal(await e.render('ok.hbs', [{ key: '/name', value: 'after' }]), 'name after\n', 'a new worker renders the next template');
});

t.test('a stop ends a looping render at once', async (t) => {
  const e = createIsolatedEngine({ templatesDir: t.testdir({ 'loop.hbs': LOOP, 'ok.hbs': 'ok\n' }), budget: { timeoutMs: 600_000 } });
  t.teardown(() => e.close());
  const stop = new AbortController();
  const rendering = e.render('loop.hbs', [], { signal: stop.signal });
  setTimeout(() => stop.abort(new Error('SIGTERM')), 300);
  const t0 = performance.now();
  await t.rejects(rendering, { message: 'SIGTERM' });
  t.ok(performance.now() - t0 < 5000, 'ended well before its time limit');
  t.equal(await e.render('ok.hbs', []), 'ok\n');
});

t.test('the isolated engine keeps what `entry` accepted and refused, services and getenv, and a failure as the engine reports it', async (t) => {
  const dir = t.testdir({
    'entries.hbs': '{{getenv "ZONE"}}\n{{#each (gets "/e/*")}}{{#with (entry Value)}}{{name}} {{host}}\n{{/with}}{{/each}}{{#each (service "web")}}{{Address}}:{{Port}}\n{{/each}}',
    'bad.hbs': 'line one\n{{json (getv "/e/bad")}}\n',
  });
  const good = (name: string, host = '10.0.0.1') => JSON.stringify({ name, host, port: 3306, proxyport: 13306 });
  const data = [
    { key: '/e/a', value: good('a') },
    { key: '/e/b', value: '{"name":"b"' },
    { key: 'e/c', value: 'not json' },
    { key: '/e/bad', value: 'nope' },
  ];
  const services = { health: new Map([['web', [{ id: 'w1', node: 'n1', nodeId: 'i', nodeAddress: '10.0.0.9', nodeDatacenter: 'dc1', nodeMeta: {}, address: '10.0.0.9', name: 'web', tags: [], meta: {}, port: 80, status: 'passing' as const, weights: { passing: 1, warning: 1 } }]]]), catalog: new Map() };
  const recording = () => {
    const seen: string[] = [];
    const recovery: EntryRecovery = {
      lastGood: (key) => (key === '/e/b' ? good('b', '10.0.0.2') : undefined),
      accepted: (key) => seen.push(`accepted ${key}`),
      refused: (key, message, fallback) => seen.push(`refused ${key} (${fallback}): ${message}`),
    };
    return { seen, recovery };
  };
  const here = createTemplateEngine({ templatesDir: dir, env: { ZONE: 'z1' } });
  const isolated = createIsolatedEngine({ templatesDir: dir, env: { ZONE: 'z1', UNSET: undefined } });
  t.teardown(() => isolated.close());
  const [a, b] = [recording(), recording()];
  const expected = await here.render('entries.hbs', data, { entries: a.recovery, services });
  t.equal(expected, 'z1\na 10.0.0.1\nb 10.0.0.2\n10.0.0.9:80\n');
  t.equal(await isolated.render('entries.hbs', data, { entries: b.recovery, services }), expected);
  t.same(b.seen, a.seen, 'the same entries accepted and refused, in the same order');
  t.match(b.seen, ['accepted /e/a', /^refused \/e\/b \(last-good\)/, /^refused \/e\/bad \(left-out\)/, /^refused \/e\/c \(left-out\)/]);
  const [x, y] = [await failure(here.render('bad.hbs', data)), await failure(isolated.render('bad.hbs', data))];
  t.same({ code: y.code, message: y.message, file: y.file, line: y.line, key: y.key }, { code: x.code, message: x.message, file: x.file, line: x.line, key: x.key });
  t.equal(y.category, 'data');
});

t.test('a render after close() starts another worker', async (t) => {
  const e = createIsolatedEngine({ templatesDir: t.testdir({ 'ok.hbs': 'v{{getv "/v"}}' }) });
  t.teardown(() => e.close());
  t.equal(await e.render('ok.hbs', [{ key: '/v', value: '1' }]), 'v1');
  await e.close();
  t.equal(await e.render('ok.hbs', [{ key: '/v', value: '2' }]), 'v2');
});

t.test("a render's time limit starts when the worker has loaded, not while its thread starts", async (t) => {
  const dir = t.testdir({ 'ok.hbs': 'name {{getv "/name"}}\n' });
  // Loading the worker (a thread, the engine, Handlebars) takes far longer than 40 ms; the render itself far less.
  const engine = createIsolatedEngine({ templatesDir: dir, budget: { timeoutMs: 40 } });
  t.teardown(() => engine.close());
  const started = performance.now();
  t.equal(await engine.render('ok.hbs', [{ key: 'name', value: 'a' }]), 'name a\n', 'the first render, in a worker just started');
  t.comment(`the first render took ${Math.round(performance.now() - started)} ms in all`);
  t.equal(await engine.render('ok.hbs', [{ key: 'name', value: 'b' }]), 'name b\n', 'and the next one');
});

t.test('the inline engine stops a looping template at the time limit, in this thread, and renders the next one', async (t) => {
  const e = createInlineEngine({ templatesDir: t.testdir({ 'loop.hbs': LOOP, 'ok.hbs': 'name {{getv "/name"}}\n' }), budget: { timeoutMs: 500 } });
  t.equal(await e.render('ok.hbs', [{ key: '/name', value: 'before' }]), 'name before\n');
  const t0 = performance.now();
  const err = await failure(e.render('loop.hbs', []));
  const took = performance.now() - t0;
  t.equal(err.code, 'TEMPLATE_TIMEOUT');
  t.equal(err.message, 'loop.hbs: rendering took longer than 500 ms, the render time limit (--render-timeout); it was stopped');
  t.equal(err.file, 'loop.hbs');
  t.ok(took >= 500 && took < 10_000, `stopped after ${Math.round(took)} ms`);
  t.equal(await e.render('ok.hbs', [{ key: '/name', value: 'after' }]), 'name after\n', 'the next render works: no helper state left from the stopped pass');
});

t.test('the inline engine stops a looping Go template at the time limit too', async (t) => {
  const e = createInlineEngine({ templatesDir: t.testdir({ 'loop.tmpl': '{{range $i := seq 1 99999}}{{range $j := seq 1 99999}}{{end}}{{end}}' }), budget: { timeoutMs: 300 } });
  const err = await failure(e.render('loop.tmpl', []));
  t.equal(err.code, 'TEMPLATE_TIMEOUT');
  t.match(err.message, /^loop\.tmpl: rendering took longer than 300 ms/);
});

t.test('the inline engine renders a template with a DNS lookup over its two passes', async (t) => {
  // A pass that asks for the lookup, then one that renders its answer, each under the deadline's time left.
  const e = createInlineEngine({ templatesDir: t.testdir({ 'dns.hbs': '{{#each (lookupIP "localhost")}}{{this}}\n{{/each}}' }), budget: { timeoutMs: 1000 } });
  t.match(await e.render('dns.hbs', []), /127\.0\.0\.1|::1/);
});

t.test('the inline engine renders what the isolated one renders: entries, services, getenv and failures alike', async (t) => {
  const dir = t.testdir({
    'entries.hbs': '{{getenv "ZONE"}}\n{{#each (gets "/e/*")}}{{#with (entry Value)}}{{name}} {{host}}\n{{/with}}{{/each}}',
    'bad.hbs': 'line one\n{{json (getv "/e/bad")}}\n',
  });
  const data = [
    { key: '/e/a', value: JSON.stringify({ name: 'a', host: '10.0.0.1', port: 3306, proxyport: 13306 }) },
    { key: '/e/c', value: 'not json' },
    { key: '/e/bad', value: 'nope' },
  ];
  const recovery = (seen: string[]): EntryRecovery => ({ lastGood: () => undefined, accepted: (key) => seen.push(`accepted ${key}`), refused: (key, _m, fallback) => seen.push(`refused ${key} (${fallback})`) });
  const isolated = createIsolatedEngine({ templatesDir: dir, env: { ZONE: 'z1' } });
  t.teardown(() => isolated.close());
  const inline = createInlineEngine({ templatesDir: dir, env: { ZONE: 'z1' } });
  const a: string[] = [];
  const b: string[] = [];
  t.equal(await inline.render('entries.hbs', data, { entries: recovery(b) }), await isolated.render('entries.hbs', data, { entries: recovery(a) }));
  t.same(b, a);
  const [x, y] = [await failure(isolated.render('bad.hbs', data)), await failure(inline.render('bad.hbs', data))];
  t.same({ code: y.code, message: y.message, file: y.file, line: y.line }, { code: x.code, message: x.message, file: x.file, line: x.line });
});
