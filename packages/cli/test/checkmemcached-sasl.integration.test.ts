// checkmemcached against real SASL memcached (memcached -S, a sasldb made by the test): the login
// from a file or a systemd credential, a wrong one (exit 65, the entry untouched), none where one is
// needed, bad password files, and a rotated password read again on SIGHUP.
import t from 'tap';
import type { Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAndWait, startMemcached, until } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/checkmemcached.js');
const PASSWORD = 'correct horse';
const env = { PATH: process.env.PATH ?? '' };

const run = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
  new Promise<{ code: number; out: string; err: string }>((done) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 30_000 }, (err, out, errOut) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: errOut });
    });
  });

const [a, b] = await Promise.all([startMemcached({ sasl: { user: 'probe', password: PASSWORD } }), startMemcached({ sasl: { user: 'probe', password: PASSWORD } })]);
t.teardown(() => Promise.all([a.stop(), b.stop()]));
const servers = `127.0.0.1:${a.port},127.0.0.1:${b.port}`;

/** A directory with the store, the lock dir, a right and a wrong password file. */
function setup(t: Test) {
  const dir = t.testdir({ right: `${PASSWORD}\n`, wrong: 'not the password\n', empty: '' });
  const file = join(dir, 'kv.json');
  // --timeout 2s: a first login costs tens of ms, more on a loaded machine.
  const base = (tag: string) => ['--server', servers, '--tag', tag, '--backend', 'file', '--file', file, '--lock-dir', dir, '--timeout', '2s'];
  const entry = (tag: string): string | undefined => {
    if (!existsSync(file)) return undefined;
    return (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)[`haproxy/memcached/${tag}`];
  };
  return { dir, file, base, entry };
}

t.test('with --sasl-user and --sasl-password-file, --once logs in, writes the entry and exits 0', async (t) => {
  const { dir, base, entry } = setup(t);
  const r = await run([...base('memsasl'), '--once', '--sasl-user', 'probe', '--sasl-password-file', join(dir, 'right')]);
  t.equal(r.code, 0, r.out + r.err);
  t.match(r.out, `set new alive 127.0.0.1:${a.port} with tag memsasl ok`);
  t.match(JSON.parse(entry('memsasl')!), { name: 'memsasl', host: '127.0.0.1', port: a.port });
});

t.test('without --sasl-password-file the password is the systemd credential memcached-sasl-password', async (t) => {
  const { dir, base, entry } = setup(t);
  const creds = join(dir, 'creds');
  mkdirSync(creds);
  writeFileSync(join(creds, 'memcached-sasl-password'), `${PASSWORD}\n`);
  const r = await run([...base('memcred'), '--once', '--sasl-user', 'probe'], { CREDENTIALS_DIRECTORY: creds });
  t.equal(r.code, 0, r.out + r.err);
  t.ok(entry('memcred'), 'the entry was written');
});

t.test('a wrong password: --once exits 65 naming each server and "SASL authentication failed", and the entry is untouched', async (t) => {
  const { dir, base, entry } = setup(t);
  t.equal((await run([...base('memwrong'), '--once', '--sasl-user', 'probe', '--sasl-password-file', join(dir, 'right')])).code, 0, 'the right password wrote the entry');
  const before = entry('memwrong');
  const r = await run([...base('memwrong'), '--once', '--sasl-user', 'probe', '--sasl-password-file', join(dir, 'wrong')]);
  t.equal(r.code, 65, 'the configuration is wrong: 65');
  for (const m of [a, b]) t.match(r.out, `127.0.0.1:${m.port}: SASL authentication failed for user "probe"`, `names ${m.port}`);
  t.match(r.out, `check --sasl-user and the password in ${join(dir, 'wrong')}`);
  t.notMatch(r.out + r.err, 'not the password', 'the password is never printed');
  t.equal(entry('memwrong'), before, 'the entry is byte for byte what it was');
});

t.test('no SASL flags against a SASL server: --once exits 65 and says the server needs a login', async (t) => {
  const { base, entry } = setup(t);
  const r = await run([...base('memnone'), '--once']);
  t.equal(r.code, 65, r.out + r.err);
  t.match(r.out, `127.0.0.1:${a.port}: the server requires SASL authentication (memcached -S) and no SASL user is set`);
  t.match(r.out, 'give --sasl-user and --sasl-password-file');
  t.equal(entry('memnone'), undefined, 'nothing written');
});

t.test('a password file that is missing, unreadable or empty, or given without --sasl-user, or an empty user, is a usage error naming the flag and the file', async (t) => {
  const { dir, base } = setup(t);
  const missing = join(dir, 'missing');
  const cases: [string[], RegExp][] = [
    [['--sasl-user', 'probe', '--sasl-password-file', missing], new RegExp(`--sasl-password-file: cannot read ${missing} \\(ENOENT`)],
    [['--sasl-user', 'probe', '--sasl-password-file', dir], new RegExp(`--sasl-password-file: cannot read ${dir} \\(EISDIR`)],
    [['--sasl-user', 'probe', '--sasl-password-file', join(dir, 'empty')], new RegExp(`--sasl-password-file: ${join(dir, 'empty')} is empty`)],
    [['--sasl-user', 'probe'], /--sasl-user needs --sasl-password-file <file> \(or the systemd credential memcached-sasl-password\)/],
    [['--sasl-password-file', join(dir, 'right')], /--sasl-password-file needs --sasl-user/],
    [['--sasl-user', '', '--sasl-password-file', join(dir, 'right')], /--sasl-user: empty/],
  ];
  for (const [flags, err] of cases) {
    const r = await run([...base('memflags'), '--once', ...flags]);
    t.equal(r.code, 64, flags.join(' '));
    t.match(r.err, err);
  }
});

t.test('a running checker reads a rotated password again on SIGHUP', async (t) => {
  const { dir, base, entry } = setup(t);
  const secret = join(dir, 'secret');
  writeFileSync(secret, 'old password\n');
  const child = spawn(process.execPath, [bin, ...base('memhup'), '--interval', '200ms', '--sasl-user', 'probe', '--sasl-password-file', secret], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => killAndWait(child));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  t.ok(await until(() => out.includes('SASL authentication failed for user "probe"'), 10_000), 'the refused login is logged');
  t.equal(entry('memhup'), undefined, 'and nothing is written');
  writeFileSync(secret, `${PASSWORD}\n`);
  child.kill('SIGHUP');
  t.ok(await until(() => entry('memhup') !== undefined, 10_000), 'the new password logged in and the entry was written');
  t.equal(child.exitCode, null, 'still running');
});
