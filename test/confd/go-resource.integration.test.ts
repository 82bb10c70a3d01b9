// A Go template resource takes part in everything a Handlebars resource does: --watch re-renders it
// on a change in the store and on an edit of the template, `plan` shows its diff, and the data
// guards refuse a render that would take every server away. On the Consul API double, and on
// confd's YAML file store (--backend file --file x.yaml) in --watch.
import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAndWait, startConsulDouble, runInProcess, until } from '@confd-haproxy/testkit';
import { commandMain } from 'confd-haproxy';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const confdHaproxy = await commandMain('confd-haproxy');

// The original's memcached template, as confd_haproxy ships it.
const TEMPLATE = `{{range gets "/haproxy/memcached/*"}}{{$data := json .Value}}
listen {{$data.name}}
    bind 0.0.0.0:{{$data.proxyport}}
    server {{$data.name}}-memcached {{$data.host}}:{{$data.port}} check
{{end}}`;
const entry = (name: string, host: string, port: number) => JSON.stringify({ name, host, port, proxyport: port + 5000 });

const consul = await startConsulDouble();
t.teardown(() => consul.close());
const put = async (key: string, value: string) => t.ok((await fetch(`${consul.url}/v1/kv/${key}`, { method: 'PUT', body: value })).ok, `PUT ${key}`);
const del = async (key: string) => t.ok((await fetch(`${consul.url}/v1/kv/${key}`, { method: 'DELETE' })).ok, `DELETE ${key}`);

function confdir(t: Test, extra = ''): string {
  return t.testdir({
    'conf.d': { 'memcached.toml': `[template]\nsrc = "memcached.conf.tmpl"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\n${extra}` },
    templates: { 'memcached.conf.tmpl': TEMPLATE },
    out: {},
  });
}
const args = (dir: string) => ['--backend', 'consul', '--node', consul.address, '--confdir', dir, '--state-dir', join(dir, 'state')];
/** A run to its end in this process (spawning the CLI costs seconds of CPU); the watchers below are processes. */
async function run(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const { code, out, err } = await runInProcess(confdHaproxy, argv);
  return { status: code, stdout: out, stderr: err };
}
const dest = (dir: string) => (existsSync(join(dir, 'out/haproxy.cfg')) ? readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8') : '');

t.test('--watch re-renders a Go template when the store changes and when the template is edited', async (t) => {
  await put('haproxy/memcached/mem1', entry('mem1', '10.0.0.1', 11211));
  const dir = confdir(t);
  const child = spawn(process.execPath, [bin, '--watch', '--wait', '20ms:200ms', ...args(dir)], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  t.teardown(() => killAndWait(child));
  // Should this test process be stopped before its teardown runs, the watcher goes with it.
  process.once('exit', () => child.kill('SIGKILL'));
  t.ok(await until(() => dest(dir).includes('server mem1-memcached 10.0.0.1:11211 check'), 15_000), `first render\n${log}`);
  await put('haproxy/memcached/mem1', entry('mem1', '10.0.0.2', 11211));
  t.ok(await until(() => dest(dir).includes('server mem1-memcached 10.0.0.2:11211 check'), 15_000), `a failover is followed\n${log}`);
  writeFileSync(join(dir, 'templates/memcached.conf.tmpl'), `# edited\n${TEMPLATE}`);
  t.ok(await until(() => dest(dir).startsWith('# edited\n'), 15_000), `the edited template renders without a restart\n${log}`);
  // before the test dir goes: a watcher still writing its state dir would race its removal
  await killAndWait(child);
});

t.test('plan shows what a Go template would change, and exits 2', async (t) => {
  await put('haproxy/memcached/mem1', entry('mem1', '10.0.0.3', 11211));
  const dir = confdir(t);
  const r = await run(['plan', ...args(dir)]);
  t.equal(r.status, 2, r.stderr);
  t.match(r.stdout, /\+    server mem1-memcached 10\.0\.0\.3:11211 check/);
  t.equal(dest(dir), '', 'nothing written');
});

t.test('the data guards refuse a Go render that takes every server away; the last good file stays', async (t) => {
  await put('haproxy/memcached/mem1', entry('mem1', '10.0.0.4', 11211));
  const dir = confdir(t);
  const once = () => run(['--onetime', ...args(dir)]);
  t.equal((await once()).status, 0);
  const good = dest(dir);
  t.match(good, /10\.0\.0\.4/);
  await del('haproxy/memcached/mem1');
  const r = await once();
  t.equal(r.status, 1, r.stderr);
  t.match(r.stderr, /the render has no servers at all \(had 1\); keeping the last good file/);
  t.equal(dest(dir), good, 'the last good file stays');
});

t.test("--watch on confd's YAML file store re-renders when a file changes", async (t) => {
  const dir = confdir(t);
  const yaml = (host: string) => `haproxy:\n  memcached:\n    mem1: '${entry('mem1', host, 11211)}'\n`;
  writeFileSync(join(dir, 'kv.yaml'), yaml('10.0.0.5'));
  const child = spawn(process.execPath, [bin, '--watch', '--wait', '20ms:200ms', '--backend', 'file', '--file', join(dir, 'kv.yaml'), '--confdir', dir, '--state-dir', join(dir, 'state')], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  t.teardown(() => killAndWait(child));
  // Should this test process be stopped before its teardown runs, the watcher goes with it.
  process.once('exit', () => child.kill('SIGKILL'));
  t.ok(await until(() => dest(dir).includes('10.0.0.5:11211'), 15_000), `first render\n${log}`);
  writeFileSync(join(dir, 'kv.yaml'), yaml('10.0.0.6'));
  t.ok(await until(() => dest(dir).includes('10.0.0.6:11211'), 15_000), `the edit is followed\n${log}`);
  await killAndWait(child);
});

t.test('--file takes YAML files and directories together, or one JSON store, not both', async (t) => {
  const dir = t.testdir({ 'a.yaml': 'k: v\n', 'kv.json': '{}' });
  const r = await run(['--onetime', '--backend', 'file', '--file', join(dir, 'a.yaml'), '--file', join(dir, 'kv.json'), '--confdir', dir]);
  t.equal(r.status, 64);
  t.match(r.stderr, /kv\.json is not YAML \(\.yaml, \.yml or a directory\)/);
});
