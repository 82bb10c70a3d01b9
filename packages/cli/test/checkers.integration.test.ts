import t from 'tap';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '@confd-haproxy/kv';
import { startConsulDouble, startMemcached, killAndWait } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = (name: string) => join(root, `packages/cli/bin/${name}.js`);
const env = { PATH: process.env.PATH ?? '' };
const run = (name: string, args: string[]) => {
  const r = spawnSync(process.execPath, [bin(name), ...args], { encoding: 'utf8', env, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
// Asynchronous, for runs against the Consul double that answers from this very process.
const runAsync = (name: string, args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((done) => {
    execFile(process.execPath, [bin(name), ...args], { encoding: 'utf8', env, timeout: 30_000 }, (err, out, errOut) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: errOut });
    });
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await sleep(100);
  }
  return fn();
}

const mems = await Promise.all([startMemcached(), startMemcached()]);
t.teardown(() => Promise.all(mems.map((m) => m.stop())));
const serverFlag = mems.map((m) => `127.0.0.1:${m.port}`).join(',');

t.test('checkmemcached without --server or --consul exits 254, as the original', async (t) => {
  t.equal(run('checkmemcached', ['--consul', '127.0.0.1:8500']).code, 254);
  t.equal(run('checkmemcached', ['--server', serverFlag]).code, 254);
});

t.test('--once writes the entry and exits 0 when healthy, 1 with the reason when not', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const ok = run('checkmemcached', ['--server', serverFlag, '--tag', 'mem1', '--backend', 'file', '--file', file, '--once', '--lock-dir', dir]);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, new RegExp(`\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\] set new alive 127\\.0\\.0\\.1:${mems[0]!.port} with tag mem1 ok`));
  const kv = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  t.match(JSON.parse(kv['haproxy/memcached/mem1']!), { name: 'mem1', port: mems[0]!.port, proxyport: mems[0]!.port + 5000 });
  const dead = run('checkmemcached', ['--server', '127.0.0.1:1', '--tag', 'mem2', '--backend', 'file', '--file', file, '--once', '--lock-dir', dir]);
  t.equal(dead.code, 1);
  t.match(dead.out + dead.err, /mem2/);
});

t.test('a second copy for the same tag on one host refuses; a stale lock file is taken over', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const args = ['--server', serverFlag, '--tag', 'memlock', '--backend', 'file', '--file', file, '--lock-dir', dir, '--interval', '200ms'];
  const first = spawn(process.execPath, [bin('checkmemcached'), ...args], { env, stdio: 'ignore' });
  t.teardown(() => killAndWait(first));
  t.ok(await until(() => { try { return readFileSync(join(dir, 'memcached-memlock.pid'), 'utf8').trim() === String(first.pid); } catch { return false; } }, 10_000), 'the first copy holds the lock file');
  const second = run('checkmemcached', [...args, '--once']);
  t.equal(second.code, 1);
  t.match(second.err, new RegExp(`another checkmemcached \\(pid ${first.pid}\\) already checks tag memlock on this host`));
  first.kill('SIGKILL');
  await sleep(300);
  const third = run('checkmemcached', [...args, '--once']);
  t.equal(third.code, 0, `a dead holder's lock is taken over: ${third.err}`);
  // Stopped before t.testdir's own teardown removes the directory it writes into.
  await killAndWait(first);
});

t.test('with --no-share-tags: SIGTERM releases the cluster lock and exits 0; a standby takes over when the holder is killed', async (t) => {
  const dir = t.testdir({ a: {}, b: {} });
  const file = join(dir, 'kv.json');
  // Without sharing, a checker that joins never takes a tag that is held: it stands by.
  const args = (lockDir: string) => ['--server', serverFlag, '--tag', 'memha', '--backend', 'file', '--file', file, '--lock-dir', lockDir, '--interval', '200ms', '--lock-ttl', '2s', '--no-share-tags'];
  const procs: ChildProcess[] = [];
  t.teardown(() => procs.forEach((p) => p.kill('SIGKILL')));
  const start = (lockDir: string) => {
    const p = spawn(process.execPath, [bin('checkmemcached'), ...args(lockDir)], { env, stdio: 'ignore' });
    procs.push(p);
    return p;
  };
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  const holderPid = async () => Number((await store.get('haproxy/.locks/memcached/memha'))?.value.split(':')[1]);
  const held = async () => Boolean((await store.get('haproxy/.locks/memcached/memha'))?.session);
  const a = start(join(dir, 'a'));
  t.ok(await until(async () => (await holderPid()) === a.pid && (await held()), 10_000), 'a holds the lock');
  const b = start(join(dir, 'b'));
  await sleep(600);
  t.equal(await holderPid(), a.pid, 'b stays standby while a lives');
  a.kill('SIGKILL');
  const killed = Date.now();
  t.ok(await until(async () => (await holderPid()) === b.pid, 10_000), `b took over ${Date.now() - killed} ms after a was killed`);
  t.ok(Date.now() - killed < 2 * 2000 + 1000 + 1500, 'within the session TTL (plus lock-delay and a pass)');
  const exited = new Promise<number | null>((r) => b.once('exit', (code) => r(code)));
  b.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM exits 0');
  t.notOk(await held(), 'and released the lock');
});

t.test('checkmysqlslave: bad db.conf exits 65 naming the file and section, bad flags 64', async (t) => {
  const dir = t.testdir({ 'db.conf': '[slave3301]\nhost=10.0.21.5\nport=99999\nuser=monitor\n' });
  const conf = join(dir, 'db.conf');
  const bad = run('checkmysqlslave', ['--conf', conf, '--tag', 'slave3301', '--backend', 'file', '--file', join(dir, 'kv.json'), '--once']);
  t.equal(bad.code, 65);
  t.match(bad.err, /db\.conf: \[slave3301\] port "99999" is not a port/);
  writeFileSync(conf, '[other]\nhost=h\nport=1\nuser=u\n');
  t.match(run('checkmysqlslave', ['--conf', conf, '--tag', 'slave3301', '--backend', 'file', '--file', 'x', '--once']), { code: 65, err: /no section \[slave3301\]/ });
  t.equal(run('checkmysqlslave', ['--conf', conf, '--tag', 'other', '--interval', 'soon', '--backend', 'file', '--file', 'x']).code, 64);
  writeFileSync(conf, '[slave3301]\nhost=10.0.21.5\nport=3301\n');
  t.match(run('checkmysqlslave', ['--conf', conf, '--tag', 'slave3301', '--backend', 'file', '--file', 'x', '--once']), { code: 65, err: /db\.conf: \[slave3301\] user is required/ });
  t.match(run('checkmysqlslave', ['--conf', join(dir, 'missing.conf'), '--tag', 'slave3301', '--backend', 'file', '--file', 'x', '--once']), { code: 65, err: /missing\.conf: cannot read/ });
  t.match(run('checkmysqlslave', ['--conf', conf, '--backend', 'file', '--file', 'x', '--once']), { code: 64, err: /--tag <tag> \(repeatable\) or --all-tags is required/ });
  t.match(run('checkmysqlslave', ['--help']), { code: 0, out: /--conf <file>[\s\S]*--tag <tag>[\s\S]*--consul <address>[\s\S]*--token <token>[\s\S]*--debug/ });
});

t.test("checkmemcached with the original's command line writes the original entry shape to Consul", async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const dir = t.testdir({});
  // As in the original README: --server a,b --tag --consul --token; --verbose as the original allowed.
  const args = ['--server', serverFlag, '--tag', 'mem11211', '--consul', double.address, '--token', 'e95597e0-4045-11e7-a9ef-b6ba84687927', '--verbose', '--lock-dir', dir, '--once'];
  const first = await runAsync('checkmemcached', args);
  t.equal(first.code, 0, first.err);
  t.match(first.out, new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\] set new alive 127\\.0\\.0\\.1:${mems[0]!.port} with tag mem11211 ok$`, 'm'));
  const res = await fetch(`${double.url}/v1/kv/haproxy/memcached/mem11211?raw`, { headers: { 'X-Consul-Token': 'e95597e0-4045-11e7-a9ef-b6ba84687927' } });
  const entry = (await res.json()) as Record<string, unknown>;
  t.match(entry, { name: 'mem11211', host: '127.0.0.1', port: mems[0]!.port, proxyport: mems[0]!.port + 5000, version: 1 }, 'name/host/port/proxyport as the original wrote them');
  t.same((entry.servers as { role: string }[]).map((s) => s.role), ['active', 'backup'], 'the other server is an HAProxy backup');
  const again = await runAsync('checkmemcached', args);
  t.match(again, { code: 0, out: new RegExp(`\\] current 127\\.0\\.0\\.1:${mems[0]!.port} is ok$`, 'm') });
  t.notOk(double.requests.some((r) => r.url.includes('e95597e0')), 'the token went in a header, never in a URL');
});

t.test('--log-format json writes one JSON object per line: the level by name, the tag, key, server and outcome as fields', async (t) => {
  const dir = t.testdir({});
  const r = run('checkmemcached', ['--server', serverFlag, '--tag', 'memjson', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--once', '--log-format', 'json']);
  t.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const server = `127.0.0.1:${mems[0]!.port}`;
  t.ok(lines.some((l) => l.msg === `set new alive ${server} with tag memjson ok` && l.level === 'info' && Number(l.pid) > 0));
  t.match(lines.find((l) => l.outcome === 'changed'), { level: 'info', tag: 'memjson', key: 'haproxy/memcached/memjson', server, outcome: 'changed' });
  t.ok(lines.some((l) => l.msg === `memjson: no entry yet → active ${server}`), 'the change is logged with its reason');
});

t.test('checkmemcached flag errors: a bad server is 64, a bad tag is 64, --help is 0', async (t) => {
  const dir = t.testdir({});
  const base = ['--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--once'];
  t.match(run('checkmemcached', ['--server', 'nohostport', ...base]), { code: 64, err: /--server: "nohostport" is not host:port/ });
  t.match(run('checkmemcached', ['--server', serverFlag, '--tag', 'mem 1', ...base]), { code: 64, err: /--tag: "mem 1" is not a usable tag/ });
  t.match(run('checkmemcached', ['--server', serverFlag, '--retry-up', '0', ...base]), { code: 64, err: /--retry-up/ });
  t.match(run('checkmemcached', ['--server', serverFlag, '--bogus', ...base]), { code: 64 });
  t.match(run('checkmemcached', ['--help']), { code: 0, out: /--server <host:port\[,host:port\]>/ });
});
