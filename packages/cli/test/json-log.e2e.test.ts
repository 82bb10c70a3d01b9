// A watching renderer's JSON log is what an alert reads. Through a failover, a bad entry, a
// template error and a reload of real HAProxy, every warning and error carries a `code` and the
// `resource` (and an entry's `key`) it is about; each applied change says what it changed.
import t from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '@confd-haproxy/kv';
import { freePort, startMemcached, startRenderedHAProxy, tempDir, until } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
type Line = Record<string, unknown> & { level: string; msg: string };

t.test('--log-format json: every warning and error of a busy run names its code and resource; a change says what it changed', async (t) => {
  const [a, b] = await Promise.all([startMemcached(), startMemcached()]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'], runtimeApi: true });
  t.teardown(() => stack.stop());
  // Templates of this run's own, so one can be broken and mended.
  const templates = join(stack.dir, 'templates');
  rmSync(templates);
  cpSync(join(root, 'templates'), templates, { recursive: true });
  const state = tempDir('json-log-state');
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  const entry = (name: string, proxyport: number, ...ms: { port: number }[]) =>
    JSON.stringify({ name, host: '127.0.0.1', port: ms[0]!.port, proxyport, servers: ms.map((m, i) => ({ host: '127.0.0.1', port: m.port, weight: 100, role: i === 0 ? 'active' : 'backup' })) });
  const kv = join(stack.dir, 'kv.json');
  const store = createFileStore({ file: kv });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/mem1', entry('mem1', p1, a, b));
  await store.put('haproxy/memcached/mem2', entry('mem2', p2, b, a));

  const child = spawn(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), '-watch', '--backend', 'file', '--file', kv, '--confdir', stack.dir, '--state-dir', state, '--wait', '20ms:100ms', '--log-format', 'json'], {
    env: { ...stack.env, PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
  const logged = (match: (l: Line) => boolean) => until(() => lines().some(match), 20_000);
  // A failed wait shows the log so far.
  const updated = (text: RegExp) => logged((l) => l.outcome === 'updated' && text.test(l.msg));

  t.ok(await until(() => readFileSync(stack.dest, 'utf8').includes('listen mem2'), 20_000), 'the first render') || t.comment(err);

  // A failover: mem1's active server moves from a to b (the runtime API applies it).
  await store.put('haproxy/memcached/mem1', entry('mem1', p1, b, a));
  const moved = new RegExp(`listen mem1: server mem1-memcached-0 127\\.0\\.0\\.1:${a.port} → 127\\.0\\.0\\.1:${b.port}, server mem1-memcached-1 127\\.0\\.0\\.1:${b.port} → 127\\.0\\.0\\.1:${a.port}$`);
  t.ok(await updated(moved), 'the failover says which server moved where') || t.comment(err);
  const failover = lines().find((l) => l.outcome === 'updated' && moved.test(l.msg))!;
  t.match(failover.changes, { proxiesAdded: [], proxiesRemoved: [], servers: [{ proxy: 'listen mem1' }] }, 'and as a field');

  // A bad entry: its last good value stays.
  await store.put('haproxy/memcached/mem2', JSON.stringify({ name: 'mem 2', host: '127.0.0.1', port: a.port, proxyport: p2 }));
  t.ok(await logged((l) => l.outcome === 'bad-entry'), 'the bad entry is told') || t.comment(err);

  // A template error: the file stays; mended, the next change goes out.
  const main = join(templates, 'haproxy.cfg.hbs');
  const good = readFileSync(main, 'utf8');
  writeFileSync(main, `${good}{{#each}}\n`);
  t.ok(await logged((l) => l.level === 'error' && l.outcome !== 'bad-entry' && /^TEMPLATE_/.test(String(l.code))), 'the template error is told') || t.comment(err);
  writeFileSync(main, good);

  // A new listen: a reload.
  await store.put('haproxy/memcached/mem3', entry('mem3', p3, a));
  t.ok(await updated(/listen mem3 added/), 'the new listen is named') || t.comment(err);
  t.ok(await logged((l) => l.outcome === 'reloaded'), 'HAProxy was reloaded') || t.comment(err);

  child.kill('SIGTERM');
  t.equal(await exited, 0);
  const alerts = lines().filter((l) => l.level === 'warn' || l.level === 'error');
  t.ok(alerts.length >= 2, `the bad entry and the template error at least: ${alerts.length}`);
  for (const l of alerts) {
    t.match(l, { code: /^[A-Z][A-Z_]+$/, resource: /\S/ }, `${l.level}: ${l.msg}`);
    if (l.outcome === 'bad-entry') t.match(l, { key: 'haproxy/memcached/mem2' }, 'a bad entry names its key');
  }
});
