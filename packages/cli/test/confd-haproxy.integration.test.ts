import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const run = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const entry = (name: string, port: number) => JSON.stringify({ name, host: '127.0.0.1', port, proxyport: port + 10050 });

/** The shipped resource and templates, writing into a temp dir and reloading with `reload`. */
function shipped(t: Test, kv: Record<string, string>, reload = 'true') {
  const dir = t.testdir({ 'conf.d': {}, out: {}, 'kv.json': JSON.stringify(kv) });
  const toml = readFileSync(join(root, 'conf.d/haproxy.toml'), 'utf8')
    .replace('dest = "/etc/haproxy/haproxy.cfg"', `dest = "${join(dir, 'out/haproxy.cfg')}"`)
    .replace('reload_cmd = "systemctl reload haproxy"', `reload_cmd = "${reload}"`);
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), toml);
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  return dir;
}
const common = (dir: string) => ['--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', join(dir, 'state')];

t.test('onetime with the shipped resource renders, passes real haproxy -c on the stage file, exits 0', async (t) => {
  const dir = shipped(t, { 'haproxy/mysqlslave/slave3301': entry('slave3301', 3301), 'haproxy/memcached/mem11211': JSON.stringify({ name: 'mem11211', host: '127.0.0.1', port: 11211, proxyport: 16211 }) });
  const r = run(['-onetime', ...common(dir).map((a) => a.replace(/^--/, '-'))], { HAPROXY_STATS_SOCKET: `/tmp/confd-haproxy-test-${process.pid}.sock` });
  t.equal(r.code, 0, r.err);
  const cfg = readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8');
  t.match(cfg, /listen slave3301\n    bind 0\.0\.0\.0:13351\n/);
  t.match(cfg, /server slave3301-mysql 127\.0\.0\.1:3301 check fall 3 rise 2 maxconn 1000/);
  t.match(cfg, /listen mem11211\n    bind 0\.0\.0\.0:16211/);
  t.match(r.err, /haproxy\.cfg updated \(check_cmd passed\)/);
});

t.test('a config haproxy refuses fails the check: exit 1, nothing written', async (t) => {
  // A valid entry whose host does not resolve: only HAProxy itself can tell.
  const dir = shipped(t, { 'haproxy/mysqlslave/s1': JSON.stringify({ name: 's1', host: 'no-such-host.invalid', port: 3301, proxyport: 13351 }) });
  const r = run(['--onetime', ...common(dir)]);
  t.equal(r.code, 1);
  t.match(r.err, /check_cmd exited with 1/);
  t.throws(() => readFileSync(join(dir, 'out/haproxy.cfg')), 'dest was never written');
});

t.test('bad input exits 65 and names the problem', async (t) => {
  const dir = shipped(t, { 'haproxy/mysqlslave/s1': 'not json' });
  const r = run(['--onetime', ...common(dir)]);
  t.equal(r.code, 65);
  t.match(r.err, /\/haproxy\/mysqlslave\/s1: json: value is not JSON/);
});

t.test('plan exits 2 with a diff when something would change, 0 when nothing would', async (t) => {
  const dir = shipped(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  const first = run(['plan', ...common(dir)]);
  t.equal(first.code, 2);
  t.match(first.out, /\+listen s1/);
  t.equal(run(['--onetime', ...common(dir)]).code, 0);
  const second = run(['plan', ...common(dir)]);
  t.equal(second.code, 0);
  t.equal(second.out, '');
  t.equal(run(['-noop', ...common(dir)]).code, 0, '-noop is plan too');
});

t.test('bad flags exit 64 and make nothing: not even the state dir', async (t) => {
  const state = join(t.testdir({}), 'state');
  t.equal(run(['--no-such-flag', '--state-dir', state]).code, 64);
  t.equal(run(['--onetime', '--watch', '--backend', 'file', '--file', 'x.json', '--state-dir', state]).code, 64);
  t.equal(run(['--onetime', '--backend', 'etcd2', '--state-dir', state]).code, 64);
  t.equal(run(['--onetime', '--backend', 'file', '--file', 'x', '--wait', 'soon', '--state-dir', state]).code, 64);
  t.equal(run(['--onetime', '--backend', 'file', '--file', 'x', '--reset-hold', 'soon', '--state-dir', state]).code, 64);
  t.notOk(existsSync(state), 'the state dir was not made for a run that never started');
  t.equal(run(['--help']).code, 0);
});

t.test('a confd-style config file supplies what the flags leave out', async (t) => {
  const dir = shipped(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  writeFileSync(join(dir, 'confd.toml'), `backend = "file"\nfile = "${join(dir, 'kv.json')}"\nconfdir = "${dir}"\nonetime = true\n`);
  const r = run(['-config-file', join(dir, 'confd.toml'), '-state-dir', join(dir, 'state')]);
  t.equal(r.code, 0, r.err);
  t.match(readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8'), /listen s1/);
});

t.test('status shows the last render, check and reload, and whether dest differs from the store', async (t) => {
  const dir = shipped(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  const state = ['--state-dir', join(dir, 'state')];
  t.equal(run(['--onetime', ...common(dir), ...state]).code, 0);
  const inSync = run(['status', ...common(dir), ...state]);
  t.equal(inSync.code, 0);
  t.match(inSync.out, /conf\.d\/haproxy\.toml .* changed \d{4}-.* ok \d{4}-.* ok \d{4}-.* in sync/);
  writeFileSync(join(dir, 'kv.json'), JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3302) }));
  const differs = run(['status', ...common(dir), ...state, '--json']);
  t.equal(differs.code, 2, 'exit 2 when dest differs from the store');
  const rows = JSON.parse(differs.out) as { resource: string; inSync: boolean; check?: { ok: boolean }; reload?: { ok: boolean } }[];
  t.match(rows, [{ resource: 'conf.d/haproxy.toml', inSync: false, check: { ok: true }, reload: { ok: true } }]);
});
