import t from 'tap';
import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { planAll, runOnce, runWatch, type PassResult } from '@confd-haproxy/renderer';
import { confdirFiles, dest, entry, lines, quietLogger, read, sleep, until } from './helpers.js';

t.test('onetime renders every resource and reports what happened as data', async (t) => {
  const dir = t.testdir({ ...confdirFiles({ check: 'grep -q listen {{.src}}', reload: 'echo r >> RELOADS' }), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), read(join(dir, 'conf.d/haproxy.toml')).replace('RELOADS', join(dir, 'RELOADS')));
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const opts = { store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal, env: { PATH: process.env.PATH } };
  const pass = await runOnce(opts);
  t.match(pass, { ok: true, exitCode: 0, resources: [{ changed: true, checked: true, reloaded: true }] });
  t.equal(read(dest(dir)), 'listen s1\n    server s1-mysql 127.0.0.1:3301\n');
  const again = await runOnce(opts);
  t.match(again, { ok: true, resources: [{ changed: false, reloaded: false }], reloads: [] }, 'a second pass changes nothing');
});

t.test('plan shows the diff and changes nothing', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const plan = await planAll({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal });
  t.match(plan, { ok: true, pending: true });
  t.match(plan.resources[0]?.diff, /\+listen s1/);
  t.equal(read(dest(dir)), '', 'dest not written');
});

t.test('a bad value fails the render naming the key and keeps the old file', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const opts = { store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal };
  await runOnce(opts);
  const good = read(dest(dir));
  await store.put('haproxy/mysqlslave/s2', '{"name": "s2",');
  const pass = await runOnce(opts);
  t.match(pass, { ok: false, exitCode: 65, errors: [{ code: 'TEMPLATE_BAD_VALUE', message: /\/haproxy\/mysqlslave\/s2: json: value is not JSON/ }] });
  t.equal(read(dest(dir)), good);
});

t.test('identical reload commands of two resources run once per pass', async (t) => {
  const dir = t.testdir({
    ...confdirFiles({ reload: 'echo r >> RELOADS' }),
    'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }),
  });
  const reloads = join(dir, 'RELOADS');
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), read(join(dir, 'conf.d/haproxy.toml')).replace('RELOADS', reloads));
  writeFileSync(join(dir, 'conf.d/second.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/second.cfg"\nkeys = ["/haproxy/mysqlslave"]\nreload_cmd = "echo r >> ${reloads}"\n`);
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal, env: { PATH: process.env.PATH, HOME: dir } });
  t.equal(pass.resources.length, 2);
  t.equal(pass.reloads.length, 1);
  t.ok(pass.resources.every((r) => r.reloaded));
  t.equal(lines(reloads).length, 1, 'the shared reload_cmd ran once');
});

async function watching(t: Test, dir: string, extra: { wait?: { minMs: number; maxMs: number } } = {}) {
  const store = createFileStore({ file: join(dir, 'kv.json'), pollMs: 200 });
  const ac = new AbortController();
  const passes: PassResult[] = [];
  const log: string[] = [];
  const done = runWatch({
    store,
    confdir: dir,
    logger: quietLogger(log),
    signal: ac.signal,
    env: { PATH: process.env.PATH },
    wait: extra.wait ?? { minMs: 100, maxMs: 1000 },
    onPass: (p) => passes.push(p),
  });
  t.teardown(async () => {
    ac.abort();
    await done;
    await store.close();
  });
  return { store, passes, log };
}

t.test('in watch mode a burst of 100 changes in a second gives two checks and two reloads at most', async (t) => {
  const dir = t.testdir({ ...confdirFiles({ check: `echo c >> ${'CHECKS'}`, reload: 'echo r >> RELOADS' }), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  // Commands run in the renderer's cwd; give them absolute paths.
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), read(join(dir, 'conf.d/haproxy.toml')).replace('CHECKS', join(dir, 'CHECKS')).replace('RELOADS', join(dir, 'RELOADS')));
  const quietMs = 1000;
  const { store, passes } = await watching(t, dir, { wait: { minMs: quietMs, maxMs: 30_000 } });
  t.ok(await until(() => passes.length >= 1), 'the first render happened');
  const before = lines(join(dir, 'RELOADS')).length;
  t.equal(before, 1, 'one reload for the first render');
  // A machine loaded enough to stall the burst for a whole quiet period splits it: each such
  // pause may add one render (it is a quiet period), none else may.
  let pauses = 0;
  let last = Date.now();
  for (let i = 0; i < 100; i++) {
    await store.put('haproxy/mysqlslave/s1', entry('s1', 4000 + i));
    await sleep(5);
    if (Date.now() - last >= quietMs) pauses++;
    last = Date.now();
  }
  t.ok(await until(() => read(dest(dir)).includes('127.0.0.1:4099'), 40_000), 'the last value was rendered');
  await sleep(quietMs + 500);
  // The first change after a quiet period renders at once (leading edge); the rest of the burst once more.
  const reloads = lines(join(dir, 'RELOADS')).length - before - pauses;
  t.ok(reloads >= 1 && reloads <= 2, `one or two reloads for the burst (${reloads}, plus one per stall of the burst: ${pauses})`);
  t.ok(lines(join(dir, 'CHECKS')).length - before - pauses <= 2, 'two checks at most for the burst');
});

t.test('in watch mode editing a template re-renders without a restart', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  await watching(t, dir);
  t.ok(await until(() => read(dest(dir)).startsWith('listen s1')));
  writeFileSync(join(dir, 'templates/haproxy.cfg.hbs'), '# edited\n{{#each (getvs "/haproxy/mysqlslave/*")}}{{#with (json this)}}listen {{name}}\n    server {{name}} {{host}}:{{port}}\n{{/with}}{{/each}}');
  t.ok(await until(() => read(dest(dir)).startsWith('# edited'), 10_000), 'the new template was used');
});

t.test('in watch mode a failing reload is rolled back and the watcher keeps going', async (t) => {
  const dir = t.testdir({ ...confdirFiles({ reload: 'test ! -e FAIL_FLAG' }), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  const flag = join(dir, 'FAIL_FLAG');
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), read(join(dir, 'conf.d/haproxy.toml')).replace('FAIL_FLAG', flag));
  const { store, passes, log } = await watching(t, dir);
  t.ok(await until(() => passes.length >= 1 && read(dest(dir)).includes('3301')));
  writeFileSync(flag, '');
  await store.put('haproxy/mysqlslave/s1', entry('s1', 3302));
  t.ok(await until(() => passes.some((p) => p.resources[0]?.rolledBack)), 'the reload failed and was rolled back');
  t.match(read(dest(dir)), /3301/, 'dest matches what is running');
  t.ok(log.some((l) => /ERROR reload_cmd .* exited with 1; restored the previous/.test(l)), 'the error was logged');
  const { unlinkSync } = await import('node:fs');
  unlinkSync(flag);
  await store.put('haproxy/mysqlslave/s1', entry('s1', 3303));
  t.ok(await until(() => read(dest(dir)).includes('3303')), 'and the next change goes through');
});

t.test('in watch mode a bad value keeps the old file until it is fixed', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  const { store, passes } = await watching(t, dir);
  t.ok(await until(() => read(dest(dir)).includes('3301')));
  await store.put('haproxy/mysqlslave/s1', 'not json');
  t.ok(await until(() => passes.some((p) => !p.ok)), 'the render failed');
  t.match(read(dest(dir)), /3301/);
  await store.put('haproxy/mysqlslave/s1', entry('s1', 3305));
  t.ok(await until(() => read(dest(dir)).includes('3305')), 'a fixed value renders again');
});

t.test('in watch mode one change after a quiet period is rendered at once, not after the quiet period', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  const quietMs = 3000;
  const { store, passes } = await watching(t, dir, { wait: { minMs: quietMs, maxMs: 30_000 } });
  t.ok(await until(() => passes.length >= 1), 'the first render happened');
  await sleep(quietMs + 200);
  const put = Date.now();
  await store.put('haproxy/mysqlslave/s1', entry('s1', 3302));
  t.ok(await until(() => read(dest(dir)).includes('127.0.0.1:3302'), quietMs), 'rendered');
  t.ok(Date.now() - put < quietMs, `within ${Date.now() - put} ms, before the ${quietMs} ms quiet period ended`);
});
