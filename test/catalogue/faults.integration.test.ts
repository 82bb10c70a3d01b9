// The fault suite beside the catalogue: faults on the data path, on real processes, with the
// shipped resource and templates. A restarted or shrunken store, one bad entry, two renderers on
// one dest, signals mid-check and mid-reload. It ends with one summary line holding the figures
// (time to act on new data after a store restart, servers kept through a shrink).
import t from 'tap';
import type { Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulStore, createEtcdStore, createFileStore, type KVStore } from '@confd-haproxy/kv';
import { runOnce, runWatch, type PassResult, type RendererLogger, type RendererOptions } from '@confd-haproxy/renderer';
import { startConsulDouble, startEtcd } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const slave = (name: string, port: number) => JSON.stringify({ name, host: '127.0.0.1', port, proxyport: port + 10050 });
const mem = (name: string, ports: number[]) =>
  JSON.stringify({ name, host: '127.0.0.1', port: ports[0], proxyport: ports[0]! + 5000, servers: ports.map((port, i) => ({ host: '127.0.0.1', port, weight: 100, role: i ? 'backup' : 'active' })) });
/** Four tags of one server each and one of four servers: eight server lines. */
const GOOD: Record<string, string> = {
  'haproxy/mysqlslave/s1': slave('s1', 3301),
  'haproxy/mysqlslave/s2': slave('s2', 3302),
  'haproxy/mysqlslave/s3': slave('s3', 3303),
  'haproxy/mysqlslave/s4': slave('s4', 3304),
  'haproxy/memcached/m1': mem('m1', [11211, 11212, 11213, 11214]),
};
const countServers = (cfg: string) => (cfg.match(/^\s+server\s+\S+/gm) ?? []).length;
const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');

const tally = { rows: 0, crashes: 0, applied: 0, lost: 0 };
const figures: { consulMs?: number; etcdMs?: number; kept?: string } = {};

/** Poll until fn() holds, at most ms; the time it took, or undefined. */
async function until(fn: () => boolean | Promise<boolean>, ms: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await fn()) return Date.now() - started;
    await sleep(25);
  }
  return (await fn()) ? Date.now() - started : undefined;
}

function logger(lines: string[]): RendererLogger {
  return { debug: () => {}, info: (m) => lines.push(`INFO ${m}`), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) };
}

interface Site {
  dir: string;
  dest: string;
  stateDir: string;
}

/** A confdir with the shipped conf.d/haproxy.toml (dest in a temp dir, reload_cmd given, no runtime socket). */
function site(t: Test, reload = 'true', check = '/usr/sbin/haproxy -c -f {{.src}}', dest?: string): Site {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-test-faults-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf.d'));
  mkdirSync(join(dir, 'out'), { recursive: true });
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  const out = dest ?? join(dir, 'out/haproxy.cfg');
  const toml = readFileSync(join(root, 'conf.d/haproxy.toml'), 'utf8')
    .replace('dest = "/etc/haproxy/haproxy.cfg"', `dest = "${out}"`)
    .replace('reload_cmd = "systemctl reload haproxy"', `reload_cmd = ${JSON.stringify(reload)}`)
    .replace('check_cmd = "/usr/sbin/haproxy -c -f {{.src}}"', `check_cmd = ${JSON.stringify(check)}`)
    .replace(/^runtime_socket = .*$/m, '');
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), toml);
  return { dir, dest: out, stateDir: join(dir, 'state') };
}

function options(s: Site, store: KVStore, lines: string[], signal = new AbortController().signal): RendererOptions {
  return { store, confdir: s.dir, stateDir: s.stateDir, logger: logger(lines), signal, env: { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: join(s.dir, 'a.sock') }, commandTimeoutMs: 5000, wait: { minMs: 50, maxMs: 500 } };
}

async function putAll(store: KVStore, kv: Record<string, string>): Promise<void> {
  for (const [k, v] of Object.entries(kv)) await store.put(k, v);
}

/**
 * A watcher on a store churned first, so that its index is far above what the store counts to
 * after a restart, once it has rendered all eight servers; the watcher's log lines.
 */
async function watchChurnedStore(t: Test, s: Site, store: KVStore): Promise<string[]> {
  for (let round = 0; round < 20; round++) await putAll(store, GOOD);
  const lines: string[] = [];
  watch(t, options(s, store, lines));
  t.ok(await until(() => countServers(read(s.dest)) === 8, 20_000), 'the first render has all eight servers');
  return lines;
}

/** The checkers write their entries again, s1 after a failover (port 3311): ms from then until dest has it, or undefined. */
async function failoverRendered(s: Site, store: KVStore, ms: number): Promise<number | undefined> {
  const started = Date.now();
  await putAll(store, { ...GOOD, 'haproxy/mysqlslave/s1': slave('s1', 3311) });
  const took = await until(() => read(s.dest).includes('127.0.0.1:3311'), ms);
  return took === undefined ? undefined : Date.now() - started;
}

/** The dest is a config HAProxy accepts. */
function validConfig(t: Test, dest: string): void {
  const check = spawnSync('/usr/sbin/haproxy', ['-c', '-f', dest], { encoding: 'utf8' });
  if (check.status !== 0) {
    tally.applied++;
    t.fail(`dest is not a valid config: ${check.stderr}`);
  }
}

/** A watcher that counts a crash when it stops on its own. */
function watch(t: Test, opts: RendererOptions): AbortController {
  const ac = new AbortController();
  let stopped = false;
  const running = runWatch({ ...opts, signal: ac.signal }).then(
    () => void (stopped = true),
    (err: unknown) => {
      tally.crashes++;
      t.fail(`the watcher threw: ${(err as Error).message}`);
    },
  );
  t.teardown(async () => {
    ac.abort();
    await running;
    if (stopped && !ac.signal.aborted) tally.crashes++;
  });
  return ac;
}

t.test('a Consul restarted on the same port (indexes start low) is followed: the renderer acts on the new data within seconds', async (t) => {
  tally.rows++;
  const s = site(t);
  let double = await startConsulDouble();
  const port = double.port;
  t.teardown(() => double.close());
  const store = createConsulStore({ address: double.address, timeoutMs: 2000 });
  t.teardown(() => store.close());
  const lines = await watchChurnedStore(t, s, store);
  await double.close();
  await sleep(300);
  double = await startConsulDouble({ port });
  const took = await failoverRendered(s, store, 20_000);
  t.ok(took !== undefined, `the failover written after the restart was rendered (${took ?? 'not'} ms; the old blocking index would have held it for a minute)`);
  figures.consulMs = took;
  t.match(lines.join('\n'), /the store's index went back from \d+ to \d+ \(restarted or restored\); holding renders/, 'the reset is logged with what was done about it');
  t.equal(countServers(read(s.dest)), 8, 'every server is still there');
  validConfig(t, s.dest);
});

t.test('an etcd restarted from an empty data dir (revisions start low) is followed: the renderer acts on the new data', async (t) => {
  tally.rows++;
  const s = site(t);
  let etcd = await startEtcd();
  const { port, peerPort } = { port: Number(new URL(etcd.endpoint).port), peerPort: etcd.peerPort };
  t.teardown(() => etcd.stop());
  const store = createEtcdStore({ nodes: [etcd.endpoint], timeoutMs: 2000 });
  t.teardown(() => store.close());
  await watchChurnedStore(t, s, store);
  await etcd.stop();
  etcd = await startEtcd({ port, peerPort });
  const back = await until(async () => (await store.put('haproxy/.probe', 'x').then(() => true, () => false)), 30_000);
  t.ok(back !== undefined, 'the client reaches the new member');
  const took = await failoverRendered(s, store, 30_000);
  t.ok(took !== undefined, `the failover written after the restart was rendered (${took ?? 'not'} ms)`);
  figures.etcdMs = took;
  t.equal(countServers(read(s.dest)), 8, 'every server is still there');
  validConfig(t, s.dest);
});

t.test('a store that comes back with one key of five is refused by the shipped max_removed; every server stays', async (t) => {
  tally.rows++;
  const s = site(t);
  const store = createFileStore({ file: join(s.dir, 'kv.json'), pollMs: 200 });
  t.teardown(() => store.close());
  await putAll(store, GOOD);
  const lines: string[] = [];
  t.equal((await runOnce(options(s, store, lines))).ok, true, 'the first render succeeds');
  const good = read(s.dest);
  for (const k of Object.keys(GOOD)) if (k !== 'haproxy/mysqlslave/s1') await store.delete(k);
  const pass = await runOnce(options(s, store, lines));
  t.equal(pass.ok, false, 'the pass fails');
  t.match(pass.errors.map((e) => e.message).join('\n'), /removes 7 of 8 servers at once \(88 % > max_removed 50 %\); keeping the last good file/);
  if (read(s.dest) !== good) {
    tally.applied++;
    t.fail('the shrunken render replaced the good file');
  }
  figures.kept = `${countServers(read(s.dest))} of ${countServers(good)}`;
  await putAll(store, GOOD);
  validConfig(t, s.dest);
});

t.test('a bad entry costs only itself: its last good value renders (across restarts), other tags change, -onetime exits 65', async (t) => {
  tally.rows++;
  const s = site(t);
  const file = join(s.dir, 'kv.json');
  const store = createFileStore({ file, pollMs: 200 });
  t.teardown(() => store.close());
  await putAll(store, GOOD);
  const lines: string[] = [];
  t.equal((await runOnce(options(s, store, lines))).ok, true, 'the first render succeeds and remembers every entry');
  await store.put('haproxy/memcached/m1', JSON.stringify({ name: 'm 1', host: '127.0.0.1', port: 11211, proxyport: 16211 }));
  await store.put('haproxy/mysqlslave/s2', slave('s2', 3312));
  // A new Renderer: what it knows of m1 comes from --state-dir only, as after a restart.
  const pass = await runOnce(options(s, store, lines));
  t.equal(pass.exitCode, 65, 'bad input: exit 65');
  t.match(pass.badEntries, [{ key: '/haproxy/memcached/m1', fallback: 'last-good' }]);
  const cfg = read(s.dest);
  t.match(cfg, /127\.0\.0\.1:3312/, 'the other tag changed');
  t.match(cfg, /server m1-memcached-3 127\.0\.0\.1:11214/, 'm1 renders from its last good value');
  t.match(lines.join('\n'), /ERROR .*\/haproxy\/memcached\/m1: entry: name "m 1" is not .*rendering its last good value/, 'the error names the key');
  // The bin: same state dir, exits 65, and logs the key.
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), '-onetime', '--backend', 'file', '--file', file, '--confdir', s.dir, '--state-dir', s.stateDir], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
  t.equal(r.status, 65, r.stderr);
  t.match(r.stderr, /\/haproxy\/memcached\/m1: entry: name "m 1"/);
  // A key never seen good is left out, with the same error; the rest still renders.
  await store.put('haproxy/mysqlslave/s5', JSON.stringify({ name: 's5', host: 'a b', port: 3305, proxyport: 13355 }));
  await store.put('haproxy/mysqlslave/s3', slave('s3', 3313));
  const second = await runOnce(options(s, store, lines));
  t.equal(second.exitCode, 65);
  t.match(second.badEntries.map((b) => `${b.key} ${b.fallback}`).sort(), ['/haproxy/memcached/m1 last-good', '/haproxy/mysqlslave/s5 left-out']);
  t.match(read(s.dest), /127\.0\.0\.1:3313/, 'another change still goes through');
  t.notMatch(read(s.dest), /listen s5/, 's5 is left out');
  validConfig(t, s.dest);
  await store.put('haproxy/memcached/m1', GOOD['haproxy/memcached/m1']!);
  await store.delete('haproxy/mysqlslave/s5');
  const healed = await runOnce(options(s, store, lines));
  t.equal(healed.ok, true, 'fixed keys render clean again');
  if ((await store.get('haproxy/mysqlslave/s1'))?.value !== GOOD['haproxy/mysqlslave/s1']) tally.lost++;
});

t.test('a failed reload does not roll back over a dest another renderer wrote meanwhile', async (t) => {
  tally.rows++;
  const flag = join(mkdtempSync(join(tmpdir(), 'confd-haproxy-test-faults-flag-')), 'go');
  t.teardown(() => rmSync(join(flag, '..'), { recursive: true, force: true }));
  // A's reload fails once B has written: a bounded wait for the flag, then exit 1.
  const a = site(t, `touch ${flag}.started; for i in $(seq 200); do [ -f ${flag} ] && break; sleep 0.05; done; exit 1`);
  const b = site(t, 'true', '/usr/sbin/haproxy -c -f {{.src}}', a.dest);
  const storeA = createFileStore({ file: join(a.dir, 'kv.json') });
  const storeB = createFileStore({ file: join(b.dir, 'kv.json') });
  t.teardown(() => Promise.all([storeA.close(), storeB.close()]));
  await putAll(storeA, GOOD);
  await putAll(storeB, { ...GOOD, 'haproxy/mysqlslave/s4': slave('s4', 3324) });
  writeFileSync(a.dest, '');
  const linesA: string[] = [];
  const passA = runOnce(options(a, storeA, linesA));
  t.ok(await until(() => existsSync(`${flag}.started`), 20_000), "A swapped dest and runs its reload");
  const passB = await runOnce(options(b, storeB, []));
  t.equal(passB.ok, true, 'B writes dest and reloads');
  const newer = read(a.dest);
  writeFileSync(flag, '');
  const resultA: PassResult = await passA;
  t.match(resultA.errors.map((e) => e.message).join('\n'), /left .*haproxy\.cfg as it is: another writer changed it after this pass wrote it/);
  t.equal(resultA.resources[0]?.rolledBack, false, 'A reports no rollback');
  if (read(a.dest) !== newer) {
    tally.applied++;
    t.fail("A's rollback overwrote B's newer file");
  }
  t.match(read(a.dest), /127\.0\.0\.1:3324/, "dest is B's file");
  validConfig(t, a.dest);
});

/**
 * Run the bin -onetime, wait for `marker`, send SIGTERM; dest must be the old or the whole new file.
 * A running reload is let finish within --command-timeout (5s here), so the exit stays bounded.
 */
async function signalMidway(t: Test, s: Site, file: string, marker: string, old: string): Promise<number | null> {
  const child = execFile(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), '-onetime', '--backend', 'file', '--file', file, '--confdir', s.dir, '--state-dir', s.stateDir, '--command-timeout', '5s'], { env: { PATH: process.env.PATH ?? '' } });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  t.ok(await until(() => existsSync(marker), 20_000), 'the command started');
  child.kill('SIGTERM');
  const gone = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!gone) {
    tally.crashes++;
    child.kill('SIGKILL');
    await exited;
  }
  t.ok(gone, 'the renderer exits on SIGTERM');
  const now = read(s.dest);
  if (now !== old) validConfig(t, s.dest);
  t.ok(now === old || now.includes('127.0.0.1:3312'), 'dest is the old or the whole new file');
  t.same(readdirSync(join(s.dir, 'out')).filter((f) => f !== 'haproxy.cfg'), [], 'no stage file is left behind');
  return exited;
}

t.test('SIGTERM mid-check and mid-reload: the renderer exits, dest is whole, no stage file stays', async (t) => {
  tally.rows += 2;
  for (const stage of ['check', 'reload'] as const) {
    const marker = join(tmpdir(), `confd-haproxy-test-faults-${process.pid}-${stage}`);
    t.teardown(() => rmSync(marker, { force: true }));
    const slow = `touch ${marker}; sleep 30`;
    const s = stage === 'check' ? site(t, 'true', `${slow}; /usr/sbin/haproxy -c -f {{.src}}`) : site(t, slow);
    const file = join(s.dir, 'kv.json');
    const store = createFileStore({ file });
    t.teardown(() => store.close());
    await putAll(store, GOOD);
    writeFileSync(s.dest, '');
    const first = await runOnce({ ...options(s, store, []), syncOnly: true });
    t.equal(first.ok, true, `${stage}: a first render without commands`);
    const old = read(s.dest);
    await store.put('haproxy/mysqlslave/s2', slave('s2', 3312));
    const code = await signalMidway(t, s, file, marker, old);
    // The stopped reload could not finish within its timeout: the change did not land, so not 0.
    if (stage === 'reload') t.not(code, 0, 'a reload cut off by its timeout after SIGTERM exits non-zero');
  }
});

t.test('fault suite summary', async (t) => {
  const ms = (v: number | undefined) => (v === undefined ? 'not seen' : `${v} ms`);
  const line = `faults: ${tally.rows} rows, ${tally.crashes} crashes, ${tally.applied} bad configs applied, ${tally.lost} entries lost; new data acted on after a store restart: consul ${ms(figures.consulMs)}, etcd ${ms(figures.etcdMs)}; servers kept through a shrink: ${figures.kept ?? 'not measured'}`;
  t.comment(line);
  console.log(`# ${line}`);
  t.equal(tally.crashes + tally.applied + tally.lost, 0, line);
});
