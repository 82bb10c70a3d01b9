// The checker bins driven in-process: each is a function from argv and two streams to an exit code,
// writing only to the streams it is given and setting no process-wide exit code.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { COMMANDS, commandMain, type CommandMain as Main } from 'confd-haproxy';
import { runInProcess } from '@confd-haproxy/testkit';

// Every checker in package.json's bin list, so a new one is tested here without a line added.
const BINS: Record<string, Main> = Object.fromEntries(await Promise.all(COMMANDS.filter((c) => c.startsWith('check')).map(async (c) => [c, await commandMain(c)] as const)));
const { checkgalera, checkmemcached, checkredis } = BINS as Record<'checkgalera' | 'checkmemcached' | 'checkredis', Main>;
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const signalListeners = () => ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));

const run = runInProcess;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

for (const [bin, main] of Object.entries(BINS)) {
  t.test(`${bin} --help prints the usage on the given stdout and exits 0`, async (t) => {
    const r = await run(main, ['--help']);
    t.equal(r.code, 0);
    t.match(r.out, new RegExp(`^Usage: ${bin} \\[options\\]`));
    t.match(r.out, /--once/);
    t.equal(r.err, '');
  });

  t.test(`${bin} --version and -version print the version and exit 0`, async (t) => {
    t.same(await run(main, ['--version']), { code: 0, out: `${VERSION}\n`, err: '' });
    t.same(await run(main, ['-version']), { code: 0, out: `${VERSION}\n`, err: '' });
  });

  t.test(`${bin} with an unknown flag exits 64 with commander's message on the given stderr`, async (t) => {
    const r = await run(main, ['--no-such-flag']);
    t.equal(r.code, 64);
    t.match(r.err, /unknown option '--no-such-flag'/);
    t.equal(r.out, '');
  });
}

t.test('a usage error of the program itself exits 64, told once with the bin', async (t) => {
  t.same(await run(checkredis, ['--server', 'nope']), { code: 64, out: '', err: 'checkredis: --server: "nope" is not host:port\n' });
  t.same(await run(checkmemcached, ['--server', '127.0.0.1:11211', '--backend', 'file', '--file', 'kv.json', '--proxyport', '70000']), {
    code: 64,
    out: '',
    err: 'checkmemcached: --proxyport: "70000" is not a port\n',
  });
});

t.test('every checker refuses a read-only store (confd\'s YAML files) before it probes, naming it', async (t) => {
  const dir = t.testdir({ 'kv.yaml': 'haproxy: {}\n', 'galera.toml': '[cluster.main]\nuser = "monitor"\n[[cluster.main.node]]\nhost = "127.0.0.1"\nport = 1\n', 'db.conf': '[t1]\nhost=127.0.0.1\nport=1\nuser=monitor\npassword=xx\n' });
  const own: Record<string, string[]> = { checkmysqlslave: ['--conf', join(dir, 'db.conf'), '--tag', 't1'], checkgalera: ['--config', join(dir, 'galera.toml')] };
  for (const [bin, main] of Object.entries(BINS)) {
    const r = await run(main, [...(own[bin] ?? ['--server', '127.0.0.1:1', '--tag', 't1']), '--backend', 'file', '--file', join(dir, 'kv.yaml'), '--once']);
    t.match(r, { code: 64, out: '' }, bin);
    t.match(r.err, /--backend file: confd's YAML files are read-only \(it cannot write or lock\); a checker writes its entry under a lock/, bin);
  }
});

t.test('checkmemcached without --server exits 254 as the original, saying so on the given stderr', async (t) => {
  t.same(await run(checkmemcached, ['--backend', 'file', '--file', 'kv.json']), { code: 254, out: '', err: 'checkmemcached: --server and --consul (or --backend file --file kv.json) are required\n' });
});

t.test('checkgalera --maint writes its key and says so on the given stdout', async (t) => {
  const dir = t.testdir({ 'galera.toml': '[cluster.main]\nuser = "monitor"\n[[cluster.main.node]]\nhost = "127.0.0.1"\nport = 3306\n' });
  const file = join(dir, 'kv.json');
  const r = await run(checkgalera, ['--config', join(dir, 'galera.toml'), '--backend', 'file', '--file', file, '--cluster', 'main', '--maint', '127.0.0.1:3306', '--reason', 'kernel upgrade']);
  t.same(r, { code: 0, out: 'main: 127.0.0.1:3306 is in maintenance (haproxy/.maint/galera/main/127.0.0.1:3306)\n', err: '' });
  const kv = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  t.match(JSON.parse(kv['haproxy/.maint/galera/main/127.0.0.1:3306']!), { reason: 'kernel upgrade' });
});

t.test('checkmemcached --once with no live server exits 1 and logs why, as JSON, on the given stdout', async (t) => {
  const dir = t.testdir({});
  const before = signalListeners();
  const port = await closedPort();
  const r = await run(checkmemcached, ['--server', `127.0.0.1:${port}`, '--tag', 'mem1', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--once', '--log-format', 'json']);
  t.equal(r.code, 1);
  t.equal(r.err, '');
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
  t.match(lines.at(-1), { level: 'error', msg: `mem1: no healthy server (127.0.0.1:${port} connection refused); entry kept` }, 'every line is JSON, the reason last');
  t.equal(process.exitCode, undefined, 'the exit code is returned, not set on the process');
  t.same(signalListeners(), before, 'its signal handlers are gone');
});
