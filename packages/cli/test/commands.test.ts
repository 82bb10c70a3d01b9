// confd-haproxy's subcommands driven in-process: each one is a function from argv to an exit code,
// writing only to the streams it is given, and importing the package runs none of them.
import t, { type Test } from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInProcess } from '@confd-haproxy/testkit';

const signalListeners = () => ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));
const before = signalListeners();
const { commandMain, storeOptionsFromFlags } = await import('confd-haproxy');
const confdHaproxy = await commandMain('confd-haproxy');
// Counted now: node-tap traps signals itself once its first test starts.
const after = signalListeners();
const exitCode = process.exitCode;

// The listeners while tests run (node-tap's own, if any): what every run must leave behind.
let whileTesting: number[] = [];

t.test('importing the package runs no command: no exit code set, no signal trapped', async (t) => {
  t.equal(exitCode, undefined);
  t.same(after, before);
  whileTesting = signalListeners();
});

const entry = (name: string, port: number) => JSON.stringify({ name, host: '127.0.0.1', port, proxyport: port + 10050 });

/** A confdir with one resource rendering haproxy/mysqlslave/* into out/haproxy.cfg, and a file store. */
function confdir(t: Test, kv: Record<string, string>): string {
  return t.testdir({
    'conf.d': { 'haproxy.toml': '[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/mysqlslave"]\n' },
    templates: { 'haproxy.cfg.hbs': '{{#each (gets "/haproxy/mysqlslave/*")}}{{#with (json Value)}}listen {{name}}\n    server {{name}}-mysql {{host}}:{{port}}\n{{/with}}{{/each}}' },
    out: {},
    'kv.json': JSON.stringify(kv),
  });
}

const common = (dir: string) => ['--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', join(dir, 'state'), '--log-level', 'error'];

/** Run confd-haproxy in this process; its exit code and what it wrote. */
const run = (argv: string[]) => runInProcess(confdHaproxy, argv);

t.test('plan prints the diff and exits 2 while changes are pending, then 0 once -onetime wrote them', async (t) => {
  const dir = confdir(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  const first = await run(['plan', ...common(dir)]);
  t.equal(first.code, 2);
  t.match(first.out, /^\+\s+server s1-mysql 127\.0\.0\.1:3301$/m);
  t.notOk(existsSync(join(dir, 'out/haproxy.cfg')), 'plan changes nothing');

  t.equal((await run(['-onetime', ...common(dir)])).code, 0);
  t.match(readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8'), /server s1-mysql 127\.0\.0\.1:3301/);
  t.same(await run(['plan', ...common(dir)]), { code: 0, out: '', err: '' });
});

t.test('status --json reports each resource in sync or not, exiting 0 or 2', async (t) => {
  const dir = confdir(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  t.equal((await run(['--onetime', ...common(dir)])).code, 0);
  const inSync = await run(['status', '--json', ...common(dir)]);
  t.equal(inSync.code, 0);
  t.match(JSON.parse(inSync.out), [{ resource: 'conf.d/haproxy.toml', inSync: true }]);
  writeFileSync(join(dir, 'kv.json'), JSON.stringify({ 'haproxy/mysqlslave/s1': entry('s1', 3302) }));
  const differs = await run(['status', '--json', ...common(dir)]);
  t.equal(differs.code, 2);
  t.match(JSON.parse(differs.out), [{ resource: 'conf.d/haproxy.toml', inSync: false }]);
});

t.test('a bad template exits 65 and the old file stays', async (t) => {
  const dir = confdir(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  t.equal((await run(['--onetime', ...common(dir)])).code, 0);
  const good = readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8');
  writeFileSync(join(dir, 'templates/haproxy.cfg.hbs'), '{{#each (gets "/haproxy/mysqlslave/*")}}');
  t.equal((await run(['--onetime', ...common(dir)])).code, 65);
  t.equal(readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8'), good);
});

t.test('bad usage exits 64 with the reason on the given stderr', async (t) => {
  const unknown = await run(['--no-such-flag']);
  t.equal(unknown.code, 64);
  t.match(unknown.err, /unknown option '--no-such-flag'/);
  const both = await run(['--onetime', '--watch', '--backend', 'file', '--file', 'x.json']);
  t.same([both.code, both.err], [64, 'confd-haproxy: --onetime and --watch exclude each other\n']);
});

t.test('an --allow-command pattern that is not words and globs, or a --command-env that is not a name, is bad usage', async (t) => {
  const pattern = await run(['--onetime', '--backend', 'file', '--file', 'x.json', '--allow-command', 'systemctl reload haproxy; true']);
  t.same([pattern.code, pattern.err], [64, 'confd-haproxy: --allow-command: "systemctl reload haproxy; true" is not plain words and globs (shell operator ";")\n']);
  const name = await run(['--onetime', '--backend', 'file', '--file', 'x.json', '--command-env', 'A-B']);
  t.same([name.code, name.err], [64, 'confd-haproxy: --command-env: "A-B" is not a variable name\n']);
});

t.test('--allow-dest names files: a directory needs its trailing /, and the other policy flags say which value is wrong', async (t) => {
  const dir = confdir(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  const out = join(dir, 'out');
  const bare = await run(['--onetime', ...common(dir), '--allow-dest', out]);
  t.equal(bare.code, 64, 'a directory without the / (what --allow-dest meant before) is refused at start');
  t.match(bare.err, new RegExp(`--allow-dest ${out} is a directory: --allow-dest names files \\(e\\.g\\. --allow-dest ${out}/haproxy\\.cfg\\); to allow every file under it, write --allow-dest ${out}/`));
  t.equal((await run(['--onetime', ...common(dir), '--allow-dest', join(out, 'other.cfg')])).code, 65, 'another file of the directory is not allowed');
  t.notOk(existsSync(join(out, 'haproxy.cfg')));
  t.equal((await run(['--onetime', ...common(dir), '--allow-dest', join(out, 'haproxy.cfg')])).code, 0, 'the file itself is');
  t.equal((await run(['--onetime', ...common(dir), '--allow-dest', `${out}/`])).code, 0, 'and so is every file under the directory with the /');
  for (const [flag, value, expect] of [
    ['--allow-directive', 'lua', /--allow-directive: "lua" is not one of the directives refused without it \(lua-load, /],
    ['--allow-env', 'A-B', /--allow-env: "A-B" is not an environment variable name/],
    ['--allow-owner', 'haproxy', /--allow-owner: "haproxy" is not UID:GID/],
  ] as const) {
    const r = await run(['--onetime', ...common(dir), flag, value]);
    t.equal(r.code, 64, `${flag} ${value} exits 64`);
    t.match(r.err, expect);
  }
});

t.test('store settings left empty in confd.toml count as not given', async (t) => {
  const dir = confdir(t, { 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  writeFileSync(join(dir, 'confd.toml'), 'backend = ""\nscheme = ""\nauth_token = ""\nusername = ""\nnodes = []\n');
  const r = await run(['plan', '--file', join(dir, 'kv.json'), '--config-file', join(dir, 'confd.toml'), '--confdir', dir, '--state-dir', join(dir, 'state'), '--log-level', 'error']);
  t.equal(r.code, 2, r.err);
  t.match(r.out, /server s1-mysql 127\.0\.0\.1:3301/);
});

t.test('store flags left empty are not given: the default backend, no scheme, no node', async (t) => {
  t.same(storeOptionsFromFlags({ backend: '', node: '', scheme: '', file: '', token: '', basicAuth: false }, {}), { backend: 'consul', env: {} });
  t.same(storeOptionsFromFlags({ backend: 'etcd', node: [], username: '', password: '' }, {}), { backend: 'etcd' });
});

t.test('a missing --file exits 66', async (t) => {
  const dir = confdir(t, {});
  const r = await run(['--onetime', '--backend', 'file', '--file', join(dir, 'nope.json'), '--confdir', dir, '--state-dir', join(dir, 'state')]);
  t.equal(r.code, 66);
  t.match(r.err, /nope\.json/);
});

t.test('keygen writes the key pair once; a second keygen into the same directory exits 65', async (t) => {
  const dir = t.testdir({});
  const first = await run(['keygen', '--out', dir]);
  t.equal(first.code, 0);
  t.match(first.out, /^wrote .*push\.key \(keep it secret\) and .*push\.pub/);
  t.ok(existsSync(join(dir, 'push.key')) && existsSync(join(dir, 'push.pub')));
  t.equal((await run(['keygen', '--out', dir])).code, 65);
});

t.test('--help and --version exit 0 and print to the given stdout', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /^Usage: confd-haproxy/);
  const version = await run(['--version']);
  t.equal(version.code, 0);
  t.match(version.out, /^\d+\.\d+\.\d+/);
});

t.test('no run leaves a signal handler behind', async (t) => {
  t.same(signalListeners(), whileTesting);
});
