import t from 'tap';
import type { Test } from 'tap';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type CheckerLogger, type PassReport } from '@confd-haproxy/checker';
import { mysqlKind, tagConfig } from '@confd-haproxy/check-mysql';
import { startConsulDouble, startReplicationSet, MONITOR, type MariaDBHandle } from '@confd-haproxy/testkit';

// One replication set for the whole file; every subtest leaves both replicas healthy again.
const set = await startReplicationSet({ replicas: 2 });
t.teardown(() => set.stop());
const { primary } = set;
const [r1, r2] = set.replicas as [MariaDBHandle, MariaDBHandle];
const signal = new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface CheckerOpts {
  retryUp?: number;
  maxLag?: number;
  masterFallback?: boolean;
  lines?: string[];
  replicas?: string;
  user?: { user: string; password: string };
  file?: string;
  name?: string;
}

function checker(t: Test, opts: CheckerOpts = {}) {
  const lines = opts.lines ?? [];
  const logger: CheckerLogger = { debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  const who = opts.user ?? MONITOR;
  const config = tagConfig('db.conf', { slave: { host: '127.0.0.1', port: String(primary.port), user: who.user, password: who.password, ...(opts.replicas ? { replicas: opts.replicas } : {}) } }, 'slave');
  const kind = mysqlKind({ config, maxLag: opts.maxLag ?? 30, timeoutMs: 500, masterFallback: opts.masterFallback ?? true, logger });
  const store = createFileStore({ file: opts.file ?? join(t.testdir({}), 'kv.json') });
  const c = new TagChecker({ tag: 'slave', kind, store, logger, checker: opts.name ?? 'test:1', timeoutMs: 500, retryUp: opts.retryUp ?? 1, retryDown: 1, lockTtlMs: 5000 });
  t.teardown(async () => {
    await c.close();
    await store.close();
  });
  return c;
}
const admin = (h: MariaDBHandle, sql: string) => h.query(sql);
const both = `127.0.0.1:${r1.port},127.0.0.1:${r2.port}`;

/** Bounded wait until both replicas run both threads with no lag (after a subtest broke one). */
async function healthyAgain(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const states = await Promise.all([r1, r2].map(async (r) => (await admin(r, 'SHOW SLAVE STATUS'))[0] ?? {}));
    if (states.every((s) => s.Slave_IO_Running === 'Yes' && s.Slave_SQL_Running === 'Yes' && Number(s.Seconds_Behind_Master) === 0)) return;
    if (Date.now() > deadline) throw new Error(`replicas not healthy again within 30 s: ${JSON.stringify(states.map((s) => [s.Slave_IO_Running, s.Slave_SQL_Running, s.Seconds_Behind_Master]))}`);
    await sleep(100);
  }
}

t.test('replicas are discovered with SHOW SLAVE HOSTS and all healthy ones are in servers', async (t) => {
  const r = await checker(t).pass(signal);
  t.equal(r.wrote, true);
  t.same(r.results.map((x) => x.target.port).sort(), [r1.port, r2.port].sort(), 'both replicas found through report_host/report_port');
  t.match(r.entry, { name: 'slave', host: '127.0.0.1', proxyport: primary.port + 10050, version: 1, checker: 'test:1' });
  t.ok([r1.port, r2.port].includes(r.entry!.port), 'points at a replica, not the master');
  t.same(r.entry!.servers.map((s) => s.port).sort(), [r1.port, r2.port].sort());
  t.ok(r.entry!.servers.every((s) => s.role === 'active' && s.weight === 100));
});

t.test('a steady state writes nothing and logs the original line once, not every pass', async (t) => {
  const lines: string[] = [];
  const c = checker(t, { lines, replicas: both });
  await c.pass(signal);
  const connections = async () => Number((await admin(r1, "SHOW GLOBAL STATUS LIKE 'Connections'"))[0]?.Value);
  const before = await connections();
  for (let i = 0; i < 5; i++) t.equal((await c.pass(signal)).wrote, false);
  t.equal(lines.filter((l) => l === 'slave in file is ok').length, 1, '"slave in file is ok" (the original said "slave3301 in consul is ok" every pass) once at info; each steady pass is debug');
  // The reading itself opens one connection; the original opened one per check.
  t.ok((await connections()) - before <= 2, 'five passes reused the kept connection');
});

t.test('a replica whose SQL thread stopped is not served', async (t) => {
  t.teardown(async () => {
    await admin(r1, 'START SLAVE SQL_THREAD');
    await healthyAgain();
  });
  const c = checker(t, { replicas: both });
  t.equal((await c.pass(signal)).entry?.port, r1.port);
  await admin(r1, 'STOP SLAVE SQL_THREAD');
  const r = await c.pass(signal);
  t.equal(r.entry?.port, r2.port, 'moved to the other replica');
  t.match(r.results.find((x) => x.target.port === r1.port)?.result, { ok: false, reason: /SQL thread not running/ });
  t.same(r.entry!.servers.map((s) => s.port), [r2.port], 'and only the healthy replica is in servers');
});

t.test('a replica whose IO thread stopped is not served', async (t) => {
  t.teardown(async () => {
    await admin(r2, 'START SLAVE IO_THREAD');
    await healthyAgain();
  });
  const c = checker(t, { replicas: `127.0.0.1:${r2.port},127.0.0.1:${r1.port}` });
  t.equal((await c.pass(signal)).entry?.port, r2.port);
  await admin(r2, 'STOP SLAVE IO_THREAD');
  const r = await c.pass(signal);
  t.equal(r.entry?.port, r1.port);
  t.match(r.results.find((x) => x.target.port === r2.port)?.result, { ok: false, reason: /IO thread not running/ });
});

t.test('a replica lagging beyond max-lag is not served', async (t) => {
  t.teardown(async () => {
    await admin(r2, 'STOP SLAVE');
    await admin(r2, 'CHANGE MASTER TO MASTER_DELAY=0');
    await admin(r2, 'START SLAVE');
    await healthyAgain();
  });
  const c = checker(t, { maxLag: 1, replicas: `127.0.0.1:${r2.port},127.0.0.1:${r1.port}` });
  t.equal((await c.pass(signal)).entry?.port, r2.port);
  await admin(r2, 'STOP SLAVE');
  await admin(r2, 'CHANGE MASTER TO MASTER_DELAY=60');
  await admin(r2, 'START SLAVE');
  await primary.query('CREATE TABLE IF NOT EXISTS checktest.lag (id INT PRIMARY KEY AUTO_INCREMENT)');
  let r;
  for (let i = 0; i < 40; i++) {
    await primary.query('INSERT INTO checktest.lag VALUES ()');
    r = await c.pass(signal);
    if (r.entry?.port === r1.port) break;
    await sleep(250);
  }
  t.equal(r?.entry?.port, r1.port, 'moved away from the lagging replica');
  t.match(r?.results.find((x) => x.target.port === r2.port)?.result, { ok: false, reason: /lag \d+ s above 1 s/ });
});

t.test('a hung replica fails within the timeout and does not stall the pass', async (t) => {
  // SIGCONT before anything else in teardown: a stopped mariadbd cannot be stopped politely.
  t.teardown(async () => {
    r1.kill('SIGCONT');
    await healthyAgain();
  });
  const c = checker(t, { replicas: both });
  t.equal((await c.pass(signal)).entry?.port, r1.port);
  r1.kill('SIGSTOP');
  for (let i = 0; i < 2; i++) {
    // The second pass connects afresh to the still-hung server: the connect must time out too.
    const started = Date.now();
    const r = await c.pass(signal);
    // A stopped server never answers: the pass ended by the deadline, which the reason names.
    t.comment(`pass ${i + 1} took ${Date.now() - started} ms (timeout 500 ms)`);
    t.equal(r.entry?.port, r2.port);
    t.match(r.results.find((x) => x.target.port === r1.port)?.result, { ok: false, reason: /timed out|no answer within 500 ms/ });
  }
  r1.kill('SIGCONT');
  let back = false;
  for (let i = 0; i < 40 && !back; i++) {
    back = (await c.pass(signal)).eligible.some((x) => x.port === r1.port);
    if (!back) await sleep(100);
  }
  t.ok(back, 'after SIGCONT a new connection serves it again');
});

t.test('a recovered replica is eligible only after retry-up successes', async (t) => {
  t.teardown(async () => {
    await admin(r1, 'START SLAVE SQL_THREAD');
    await healthyAgain();
  });
  const c = checker(t, { retryUp: 3, replicas: both });
  await c.pass(signal);
  await admin(r1, 'STOP SLAVE SQL_THREAD');
  t.equal((await c.pass(signal)).entry?.port, r2.port);
  await admin(r1, 'START SLAVE SQL_THREAD');
  await healthyAgain();
  const step = async () => {
    const r = await c.pass(signal);
    return { eligible: r.eligible.some((x) => x.port === r1.port), healthy: r.healthy.some((x) => x.port === r1.port) };
  };
  t.same(await step(), { eligible: false, healthy: true }, 'healthy but not eligible after 1 success');
  t.same(await step(), { eligible: false, healthy: true }, 'nor after 2');
  t.same(await step(), { eligible: true, healthy: true }, 'eligible after 3');
});

t.test('with every replica down the entry points at the master, and stays without rewrites', async (t) => {
  t.teardown(async () => {
    await Promise.all([admin(r1, 'START SLAVE SQL_THREAD'), admin(r2, 'START SLAVE SQL_THREAD')]);
    await healthyAgain();
  });
  const lines: string[] = [];
  const c = checker(t, { replicas: both, lines });
  await c.pass(signal);
  await Promise.all([admin(r1, 'STOP SLAVE SQL_THREAD'), admin(r2, 'STOP SLAVE SQL_THREAD')]);
  const r = await c.pass(signal);
  t.match(r.entry, { host: '127.0.0.1', port: primary.port, proxyport: primary.port + 10050 }, 'the master');
  t.same(r.entry!.servers.map((s) => s.port), [primary.port]);
  t.equal(r.wrote, true);
  for (let i = 0; i < 3; i++) t.equal((await c.pass(signal)).wrote, false, `no rewrite on pass ${i + 2} on the master (the original rewrote every second)`);
  t.ok(lines.includes(`slave in file stays on the master 127.0.0.1:${primary.port}: no healthy replica`));
  await Promise.all([admin(r1, 'START SLAVE SQL_THREAD'), admin(r2, 'START SLAVE SQL_THREAD')]);
  await healthyAgain();
  let back;
  for (let i = 0; i < 20 && back?.entry?.port !== r1.port; i++) back = await c.pass(signal);
  t.equal(back?.entry?.port, r1.port, 'and back to a replica once one is healthy');
});

t.test('without master fallback the last entry is kept', async (t) => {
  t.teardown(async () => {
    await admin(r1, 'START SLAVE SQL_THREAD');
    await healthyAgain();
  });
  const c = checker(t, { masterFallback: false, replicas: `127.0.0.1:${r1.port}` });
  const first = await c.pass(signal);
  t.equal(first.entry?.port, r1.port);
  await admin(r1, 'STOP SLAVE SQL_THREAD');
  const r = await c.pass(signal);
  t.equal(r.wrote, false);
  t.same(r.entry, first.entry);
});

t.test('a user with REPLICATION CLIENT only is told it needs SLAVE MONITOR', async (t) => {
  await primary.query("CREATE USER IF NOT EXISTS 'weak'@'127.0.0.1' IDENTIFIED BY 'weakpw'");
  await primary.query("GRANT REPLICATION CLIENT ON *.* TO 'weak'@'127.0.0.1'");
  t.teardown(() => primary.query("DROP USER IF EXISTS 'weak'@'127.0.0.1'"));
  for (let i = 0; i < 50 && (await admin(r1, "SELECT user FROM mysql.user WHERE user = 'weak'")).length === 0; i++) await sleep(100);
  const lines: string[] = [];
  const r = await checker(t, { user: { user: 'weak', password: 'weakpw' }, lines }).pass(signal);
  t.same(r.results, [], 'no replica could be discovered');
  t.ok(lines.some((l) => /SHOW SLAVE HOSTS: .*REPLICATION MASTER ADMIN/.test(l)), 'discovery says which privilege is missing');
  const probed = await checker(t, { user: { user: 'weak', password: 'weakpw' }, replicas: `127.0.0.1:${r1.port}` }).pass(signal);
  t.match(probed.results[0]?.result.reason, /needs the SLAVE MONITOR privilege on MariaDB 10\.11 .*REPLICATION CLIENT is not enough/);
});

// The bins, as an operator runs them: db.conf, --once for cron, two copies on two "hosts".
const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/checkmysqlslave.js');
const env = { PATH: process.env.PATH ?? '' };
const dbConf = (dir: string) => {
  const file = join(dir, 'db.conf');
  writeFileSync(file, `[slave3301]\ndatabase = checktest\nhost = 127.0.0.1\nport = ${primary.port}\nuser = ${MONITOR.user}\npassword = ${MONITOR.password}\ndefault-character-set = utf8\n`);
  return file;
};
const once = (args: string[]) => spawnSync(process.execPath, [bin, ...args, '--once'], { encoding: 'utf8', env, timeout: 30_000 });
const entryIn = (file: string) => JSON.parse((JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)['haproxy/mysqlslave/slave3301']!) as { host: string; port: number; checker: string };

t.test('checkmysqlslave --once: exit 0 when a replica serves, 1 with the reasons when only the master is left', async (t) => {
  t.teardown(async () => {
    await Promise.all([admin(r1, 'START SLAVE SQL_THREAD'), admin(r2, 'START SLAVE SQL_THREAD')]);
    await healthyAgain();
  });
  const dir = t.testdir({});
  // A generous deadline: what is asserted is the reason a replica is not used, which a discovery timed out on a loaded machine would replace.
  const args = ['--conf', dbConf(dir), '--tag', 'slave3301', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--timeout', '3s', '--debug'];
  const ok = once(args);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\] slave3301: set 127\.0\.0\.1:\d+ with 2 healthy replica\(s\)$/m, 'the original log style');
  t.ok([r1.port, r2.port].includes(entryIn(join(dir, 'kv.json')).port));
  t.match(once(args), { status: 0, stdout: /\] slave3301 in file is ok$/m });
  await Promise.all([admin(r1, 'STOP SLAVE SQL_THREAD'), admin(r2, 'STOP SLAVE SQL_THREAD')]);
  const down = once(args);
  t.equal(down.status, 1);
  t.match(down.stdout + down.stderr, /slave3301: no healthy replica; the entry points at 127\.0\.0\.1:\d+ \(.*SQL thread not running.*\)/);
  t.equal(entryIn(join(dir, 'kv.json')).port, primary.port, 'the entry points at the master');
});

t.test('two checkmysqlslave daemons for one tag: one writer, no flapping; the standby takes over when the holder is killed', async (t) => {
  const dir = t.testdir({ a: {}, b: {} });
  const kv = join(dir, 'kv.json');
  const conf = dbConf(dir);
  const procs: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await admin(r1, 'START SLAVE SQL_THREAD');
    await admin(r2, 'START SLAVE SQL_THREAD');
    await healthyAgain();
  });
  const outputs = new Map<ChildProcess, string>();
  // Separate lock dirs: two hosts as far as the local lock file is concerned.
  const start = (lockDir: string) => {
    const p = spawn(process.execPath, [bin, '--conf', conf, '--tag', 'slave3301', '--backend', 'file', '--file', kv, '--lock-dir', lockDir, '--interval', '200ms', '--timeout', '500ms', '--lock-ttl', '1500ms'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    outputs.set(p, '');
    p.stdout!.on('data', (d: Buffer) => outputs.set(p, outputs.get(p) + d.toString()));
    p.stderr!.on('data', (d: Buffer) => outputs.set(p, outputs.get(p) + d.toString()));
    procs.push(p);
    return p;
  };
  const a = start(join(dir, 'a'));
  const b = start(join(dir, 'b'));
  let first;
  for (let i = 0; i < 100 && !first; i++) {
    await sleep(100);
    try {
      first = entryIn(kv);
    } catch {
      // not written yet
    }
  }
  t.ok(first, 'the entry was written');
  await sleep(2000);
  const sets = (p: ChildProcess) => (outputs.get(p) ?? '').split('\n').filter((l) => /slave3301: set /.test(l)).length;
  t.equal(sets(a) + sets(b), 1, 'one write in 2 s of two daemons checking every 200 ms');
  t.same(entryIn(kv), first, 'the entry did not flap');
  const holder = first!.checker.endsWith(`:${a.pid}`) ? a : b;
  const standby = holder === a ? b : a;
  holder.kill('SIGKILL');
  const killed = Date.now();
  // Make the standby's takeover visible: the current replica fails, so the new holder must move it.
  await admin(first!.port === r1.port ? r1 : r2, 'STOP SLAVE SQL_THREAD');
  let moved;
  while (Date.now() - killed < 10_000) {
    const e = entryIn(kv);
    if (e.port !== first!.port) {
      moved = e;
      break;
    }
    await sleep(50);
  }
  const took = Date.now() - killed;
  t.ok(moved, 'the standby moved the entry');
  t.equal(moved?.checker.endsWith(`:${standby.pid}`), true, 'written by the standby');
  t.ok(took < 1500 + 1000, `within the lock TTL (1.5 s) and a pass: ${took} ms`);
  const exited = new Promise<number | null>((r) => standby.once('exit', (code) => r(code)));
  standby.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM exits 0');
  const lock = (JSON.parse(readFileSync(kv, 'utf8')) as { '@meta': { keys: Record<string, { s?: string }> } })['@meta'].keys['haproxy/.locks/mysqlslave/slave3301'];
  t.notOk(lock?.s, 'and released the cluster lock');
});

t.test("checkmysqlslave with the original's command line (--conf --tag --consul --token --debug) writes the original entry shape", async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const dir = t.testdir({});
  const token = 'e95597e0-4045-11e7-a9ef-b6ba84687927';
  // Asynchronous: the Consul double answers from this very process.
  const r = await new Promise<{ code: number; out: string }>((done) =>
    execFile(process.execPath, [bin, '--conf', dbConf(dir), '--tag', 'slave3301', '--consul', double.address, '--token', token, '--debug', '--lock-dir', dir, '--once'], { encoding: 'utf8', env, timeout: 30_000 }, (err, out, errOut) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: out + errOut }),
    ),
  );
  t.equal(r.code, 0, r.out);
  const res = await fetch(`${double.url}/v1/kv/haproxy/mysqlslave/slave3301?raw`);
  const entry = (await res.json()) as { name: string; host: string; port: number; proxyport: number };
  t.match(entry, { name: 'slave3301', host: '127.0.0.1', proxyport: primary.port + 10050 });
  t.ok([r1.port, r2.port].includes(entry.port), 'a replica');
  t.notOk(double.requests.some((q) => q.url.includes(token)), 'the token is never in a URL');
  t.notMatch(r.out, token, 'nor in the log');
});

// Last: SIGKILL takes r2 away for good.
t.test('a checker connection killed on a healthy replica is probed again at once, and the entry stays (retry-down 1)', async (t) => {
  const config = tagConfig('db.conf', { slave: { host: '127.0.0.1', port: String(primary.port), user: MONITOR.user, password: MONITOR.password, replicas: both } }, 'slave');
  const kind = mysqlKind({ config, maxLag: 30, timeoutMs: 500, masterFallback: true });
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const c = new TagChecker({ tag: 'slave', kind, store, logger: quiet, checker: 'test:1', timeoutMs: 500, retryUp: 1, retryDown: 1, lockTtlMs: 5000, noLock: true });
  const reports: PassReport[] = [];
  const ac = new AbortController();
  // A one-minute interval: only a re-probe can explain a decision within the bounded waits below.
  const running = runTagChecker(c, { intervalMs: 60_000, signal: ac.signal, onPass: (r) => reports.push(r) });
  t.teardown(async () => {
    ac.abort();
    await running;
    await store.close();
  });
  const until = async (match: (r: PassReport) => boolean) => {
    for (let i = 0; i < 1000 && !reports.some(match); i++) await sleep(10);
    return reports.find(match);
  };
  t.equal((await until((r) => r.trigger === 'interval'))?.entry?.port, r1.port, 'the first pass chose the first replica');
  const mine = (await admin(r1, 'SHOW PROCESSLIST')).filter((p) => p.User === MONITOR.user);
  t.equal(mine.length, 1, "the checker's one kept connection");
  await admin(r1, `KILL ${Number(mine[0]!.Id)}`);
  const again = await until((r) => r.trigger === 'connection-lost');
  t.match(again?.results, [{ target: { port: r1.port }, result: { ok: true } }], 'the re-probe reconnected and passed');
  t.equal(again?.wrote, false, 'nothing was written');
  t.equal(again?.entry?.port, r1.port, 'the entry never left the replica');
});

t.test('a killed replica is replaced by the other', async (t) => {
  const c = checker(t, { replicas: `127.0.0.1:${r2.port},127.0.0.1:${r1.port}` });
  t.equal((await c.pass(signal)).entry?.port, r2.port);
  r2.kill('SIGKILL');
  const r = await c.pass(signal);
  t.equal(r.entry?.port, r1.port);
  t.same(r.entry!.servers.map((s) => s.port), [r1.port]);
  t.match(r.results.find((x) => x.target.port === r2.port)?.result, { ok: false });
  t.notMatch(r.results.find((x) => x.target.port === r2.port)?.result.reason, /timed out|no answer within/, 'at once: a refused connection needs no timeout');
});
