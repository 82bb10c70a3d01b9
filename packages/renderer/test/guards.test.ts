import t from 'tap';
import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { guardEmptiedBackends, runOnce } from '@confd-haproxy/renderer';
import { confdirFiles, dest, entry, quietLogger, read } from './helpers.js';

const kv = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`haproxy/mysqlslave/s${i}`, entry(`s${i}`, 3300 + i)]));
const signal = new AbortController().signal;

async function setup(t: Test, servers: number, extra = '') {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': JSON.stringify(kv(servers)) });
  if (extra) writeFileSync(join(dir, 'conf.d/haproxy.toml'), read(join(dir, 'conf.d/haproxy.toml')) + extra);
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const opts = { store, confdir: dir, logger: quietLogger(), signal };
  t.equal((await runOnce(opts)).ok, true, `first render with ${servers} servers`);
  return { dir, store, opts };
}

t.test('a render that would remove every server is refused and the last good file stays', async (t) => {
  const { dir, store, opts } = await setup(t, 2);
  const good = read(dest(dir));
  await store.delete('haproxy/mysqlslave/s0');
  await store.delete('haproxy/mysqlslave/s1');
  const pass = await runOnce(opts);
  t.match(pass, { ok: false, exitCode: 1, errors: [{ code: 'GUARD_REFUSED', message: /no servers at all \(had 2\)/ }] });
  t.equal(read(dest(dir)), good);
});

t.test('an empty store may render an empty file the first time', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': '{}' });
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  t.equal((await runOnce({ store, confdir: dir, logger: quietLogger(), signal })).ok, true);
});

t.test('min_servers refuses a render below it', async (t) => {
  const { dir, store, opts } = await setup(t, 3, 'min_servers = 2\n');
  await store.delete('haproxy/mysqlslave/s0');
  t.equal((await runOnce(opts)).ok, true, '2 servers are enough');
  await store.delete('haproxy/mysqlslave/s1');
  t.match(await runOnce(opts), { ok: false, errors: [{ code: 'GUARD_REFUSED', message: /1 servers, below min_servers 2/ }] });
  t.match(read(dest(dir)), /s1-mysql/, 'the file still has the two servers');
});

t.test('max_removed refuses losing too large a share at once', async (t) => {
  const { dir, store, opts } = await setup(t, 4, 'max_removed = 0.5\n');
  await store.delete('haproxy/mysqlslave/s0');
  t.equal((await runOnce(opts)).ok, true, 'one of four (25 %) is fine');
  await store.delete('haproxy/mysqlslave/s1');
  await store.delete('haproxy/mysqlslave/s2');
  t.match(await runOnce(opts), { ok: false, errors: [{ code: 'GUARD_REFUSED', message: /removes 2 of 3 servers at once \(67 % > max_removed 50 %\)/ }] });
  t.match(read(dest(dir)), /s2-mysql/);
});

t.test('bad guard settings are errors naming the file and field', async (t) => {
  const dir = t.testdir({ ...confdirFiles(), 'kv.json': '{}' });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), read(join(dir, 'conf.d/haproxy.toml')) + 'max_removed = 2\n');
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  t.match(await runOnce({ store, confdir: dir, logger: quietLogger(), signal }), { ok: false, exitCode: 65, errors: [{ message: /conf\.d\/haproxy\.toml: \[template\]\.max_removed must be a share between 0 and 1/ }] });
});

t.test('a backend that had servers and is still rendered without any is refused, naming it', async (t) => {
  const before = 'listen web\n    server a 1.1.1.1:1\n    server b 1.1.1.2:1\nlisten mem\n    server m 1.1.1.3:1\n';
  t.match(guardEmptiedBackends({ name: 'r', previous: before, rendered: 'listen web\nlisten mem\n    server m 1.1.1.3:1\n' })?.message, /r: the render leaves listen web \(had 2\) without servers; keeping the last good file/);
  t.equal(guardEmptiedBackends({ name: 'r', previous: before, rendered: 'listen mem\n    server m 1.1.1.3:1\n' }), undefined, 'a backend that is gone altogether is a template change, not an empty answer');
  t.equal(guardEmptiedBackends({ name: 'r', previous: before, rendered: 'listen web\n    server a 1.1.1.1:1\nlisten mem\n    server m 1.1.1.3:1\n' }), undefined, 'fewer servers is not empty');
  t.equal(guardEmptiedBackends({ name: 'r', previous: undefined, rendered: 'listen web\n' }), undefined, 'nothing to keep on a first render');
});
