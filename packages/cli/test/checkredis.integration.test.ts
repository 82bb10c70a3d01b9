import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, startRedisSet } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = (args: string[], extraEnv: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/checkredis.js'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...extraEnv }, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const stored = (file: string, key: string) => JSON.parse((JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)[key]!) as Record<string, unknown>;

t.test('checkredis --once writes the master\'s entry and exits 0; with no master it exits 1 and says why', async (t) => {
  const set = await startRedisSet({ replicas: 1 });
  t.teardown(() => set.stop());
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const servers = `127.0.0.1:${set.replicas[0]!.port},127.0.0.1:${set.primary.port}`;
  const ok = run(['--server', servers, '--tag', 'sessions', '--backend', 'file', '--file', file, '--once', '--lock-dir', dir]);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, new RegExp(`set master 127\\.0\\.0\\.1:${set.primary.port} with tag sessions`));
  t.match(stored(file, 'haproxy/redis/sessions'), { name: 'sessions', host: '127.0.0.1', port: set.primary.port, proxyport: set.replicas[0]!.port + 5000 });
  set.primary.kill('SIGKILL');
  const none = run(['--server', servers, '--tag', 'sessions', '--backend', 'file', '--file', file, '--once', '--lock-dir', dir, '--timeout', '300ms']);
  t.equal(none.code, 1);
  t.match(none.out + none.err, /no server answers ROLE as master/);
  t.equal(stored(file, 'haproxy/redis/sessions').port, set.primary.port, 'the entry is kept');
});

t.test('the password comes from --password-file or REDISCLI_AUTH, never from argv', async (t) => {
  const h = await startRedis({ password: 'pw-in-file' });
  t.teardown(() => h.stop());
  const dir = t.testdir({ pw: 'pw-in-file\n' });
  const file = join(dir, 'kv.json');
  const base = ['--server', `127.0.0.1:${h.port}`, '--backend', 'file', '--file', file, '--once', '--lock-dir', dir];
  t.equal(run([...base, '--password-file', join(dir, 'pw')]).code, 0);
  t.equal(run(base, { REDISCLI_AUTH: 'pw-in-file' }).code, 0);
  const wrong = run(base, { REDISCLI_AUTH: 'nope' });
  t.equal(wrong.code, 1);
  t.notMatch(wrong.out + wrong.err, /nope/, 'the password is never printed');
  t.match(stored(file, `haproxy/redis/redis${h.port}`), { port: h.port, proxyport: h.port + 5000 }, 'the default tag is redis<port>');
});

t.test('usage errors exit 64 and name the flag', async (t) => {
  t.match(run(['--backend', 'file', '--file', '/tmp/x.json']), { code: 64, err: /--server or --sentinel/ });
  t.match(run(['--server', '127.0.0.1:6379', '--proxyport', '26379', '--backend', 'file', '--file', '/tmp/x.json']), { code: 64, err: /--proxyport: 26379 is Redis Sentinel's port/ });
  t.match(run(['--server', '127.0.0.1:6379', '--proxyport', '16379', '--backend', 'file', '--file', '/tmp/x.json']), { code: 64, err: /cluster bus/ });
  t.match(run(['--sentinel', '127.0.0.1:26379', '--master-name', 'm', '--backend', 'file', '--file', '/tmp/x.json']), { code: 64, err: /--proxyport is required with --sentinel alone/ });
  t.match(run(['--server', 'nohost', '--backend', 'file', '--file', '/tmp/x.json']), { code: 64, err: /--server: "nohost" is not host:port/ });
});
