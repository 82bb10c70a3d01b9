import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { runInterval, runOnce, runWatch, type PassResult } from '@confd-haproxy/renderer';
import { confdirFiles, dest, entry, quietLogger, read, until } from './helpers.js';

const BROKEN_TOML = '[template]\nsrc = "haproxy.cfg.hbs"\nkeys = ["/haproxy/mysqlslave"]\n';

t.test('a pass whose conf.d does not load reaches onPass as a failed pass naming the file', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), BROKEN_TOML);
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const passes: PassResult[] = [];
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal, onPass: (p) => passes.push(p) });
  t.match(pass, { ok: false, exitCode: 65, resources: [], errors: [{ code: 'RESOURCE_INVALID', message: /haproxy\.toml.*dest/ }] });
  t.equal(passes.length, 1, 'onPass saw the pass');
  t.equal(passes[0], pass, 'and it is the pass returned');
  t.equal(read(dest(dir)), '', 'no dest was written');
});

t.test('in interval mode every pass reaches onPass, the ones whose conf.d does not load too', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  const good = read(join(dir, 'conf.d/haproxy.toml'));
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), BROKEN_TOML);
  const store = createFileStore({ file: join(dir, 'kv.json') });
  const ac = new AbortController();
  const passes: PassResult[] = [];
  const running = runInterval({ store, confdir: dir, logger: quietLogger(), signal: ac.signal, intervalMs: 50, onPass: (p) => passes.push(p) });
  t.teardown(async () => {
    ac.abort();
    await running;
    await store.close();
  });
  t.ok(await until(() => passes.length >= 1), 'a failed pass was told');
  t.match(passes[0], { ok: false, errors: [{ code: 'RESOURCE_INVALID' }] });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), good);
  t.ok(await until(() => passes.some((p) => p.ok)), 'once conf.d is fixed, a good pass follows');
  t.match(read(dest(dir)), /listen s1/);
});

t.test('in watch mode a conf.d that does not load reaches onPass, and the fixed one renders', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3301) }) });
  const good = read(join(dir, 'conf.d/haproxy.toml'));
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), BROKEN_TOML);
  const store = createFileStore({ file: join(dir, 'kv.json'), pollMs: 200 });
  const ac = new AbortController();
  const passes: PassResult[] = [];
  const log: string[] = [];
  const running = runWatch({ store, confdir: dir, logger: quietLogger(log), signal: ac.signal, wait: { minMs: 50, maxMs: 500 }, onPass: (p) => passes.push(p) });
  t.teardown(async () => {
    ac.abort();
    await running;
    await store.close();
  });
  t.ok(await until(() => passes.length >= 1), 'a failed pass was told');
  t.match(passes[0], { ok: false, exitCode: 65, resources: [], errors: [{ code: 'RESOURCE_INVALID', message: /haproxy\.toml/ }] });
  t.ok(log.some((l) => /^ERROR .*haproxy\.toml.*waiting for conf\.d to be fixed$/s.test(l)), 'the log says the last good configuration stays');
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), good);
  t.ok(await until(() => passes.some((p) => p.ok) && read(dest(dir)).includes('listen s1')), 'the fixed conf.d renders');
});
