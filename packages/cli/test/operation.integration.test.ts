// Day-to-day operation on real processes: logs an operator can use, signals that behave, and
// flags and config files without traps.
import t from 'tap';
import type { Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, startConsulDouble, startMemcached } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = (name: string) => join(root, `packages/cli/bin/${name}.js`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = (args: string[], name = 'confd-haproxy') => {
  const r = spawnSync(process.execPath, [bin(name), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

interface Fixture {
  dir: string;
  dest: string;
  kv: string;
  /** The renderer's --state-dir, inside the fixture (never /var/lib). */
  state: string;
  args: string[];
  /** Rewrite conf.d/a.toml with these extra [template] lines. */
  conf(extra?: string, dest?: string): void;
}

/** A confdir whose one resource renders "servers: a b …" from haproxy/x into out/a.cfg. */
function fixture(t: Test, extra = '', kv: Record<string, string> = { 'haproxy/x/a': '1' }): Fixture {
  const dir = t.testdir({ 'conf.d': {}, templates: { 'a.hbs': 'servers:{{#each (ls "/haproxy/x")}} {{this}}{{/each}}\n' }, out: {}, 'kv.json': JSON.stringify(kv) });
  const dest = join(dir, 'out/a.cfg');
  const conf = (more = extra, to = dest) => writeFileSync(join(dir, 'conf.d/a.toml'), `[template]\nsrc = "a.hbs"\ndest = "${to}"\nkeys = ["/haproxy/x"]\n${more}\n`);
  conf();
  const kvFile = join(dir, 'kv.json');
  return { dir, dest, kv: kvFile, state: join(dir, 'state'), args: ['--backend', 'file', '--file', kvFile, '--confdir', dir, '--state-dir', join(dir, 'state')], conf };
}

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

function start(t: Test, args: string[], name = 'confd-haproxy'): Running {
  const child = spawn(process.execPath, [bin(name), ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  let signalled = 0;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((done) => {
    child.on('exit', (code, signal) => done({ code, signal, ms: signalled ? Date.now() - signalled : 0 }));
  });
  const kill = child.kill.bind(child);
  child.kill = (sig?: NodeJS.Signals | number) => {
    signalled ||= Date.now();
    return kill(sig);
  };
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      kill('SIGKILL');
      await exit;
    }
  });
  return { child, out: () => out, err: () => err, exit };
}

/** Wait until `ok()` holds, at most `ms`; true when it did. */
async function until(ok: () => boolean, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (ok()) return true;
    await sleep(50);
  }
  return ok();
}

const stageFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.a.cfg.'));

// --- CLI and config traps ---------------------------------------------------------------------------

t.test('store flags before the subcommand are used: --backend file --file kv.json --confdir D plan', async (t) => {
  const f = fixture(t);
  const r = run([...f.args, 'plan']);
  t.equal(r.code, 2, r.err);
  t.match(r.out, /\+servers: a/);
  t.notMatch(r.err, /127\.0\.0\.1:8500/, 'no fall back to Consul');
});

t.test('Go-style values work: durations 1m30s, -flag=value, -flag=true and -flag=false', async (t) => {
  const f = fixture(t);
  const goArgs = [`-backend=file`, `-file=${f.kv}`, `-confdir=${f.dir}`, '-interval=1m30s', '-command-timeout=1m30s', `-state-dir=${f.state}`];
  const noop = run(['-onetime=true', '-noop=true', ...goArgs]);
  t.equal(noop.code, 0, noop.err);
  t.notOk(existsSync(f.dest), '-noop=true changed nothing');
  const onetime = run(['-onetime=true', '-noop=false', ...goArgs]);
  t.equal(onetime.code, 0, onetime.err);
  t.equal(readFileSync(f.dest, 'utf8'), 'servers: a\n', '-noop=false renders');
  t.match(run(['-onetime', '-interval=1m30x', ...f.args]), { code: 64, err: /--interval: "1m30x" is not a duration/ });
  t.match(run(['-onetime=maybe', ...f.args]), { code: 64 });
});

t.test('a missing --file is an error naming the path (exit 66); --create-file starts an empty store', async (t) => {
  const f = fixture(t);
  const missing = join(f.dir, 'kv-typo.json');
  const r = run(['-onetime', '--backend', 'file', '--file', missing, '--confdir', f.dir, '--state-dir', f.state]);
  t.equal(r.code, 66);
  t.match(r.err, `--file ${missing}: no such file`);
  t.notOk(existsSync(f.dest), 'nothing was rendered from an empty store');
  const created = run(['-onetime', '--backend', 'file', '--file', missing, '--create-file', '--confdir', f.dir, '--state-dir', f.state]);
  t.equal(created.code, 0, created.err);
  t.equal(readFileSync(f.dest, 'utf8'), 'servers:\n');
});

t.test('-config-file type-checks each setting and names it', async (t) => {
  const f = fixture(t);
  const cfg = join(f.dir, 'confd.toml');
  const base = `backend = "file"\nfile = "${f.kv}"\nconfdir = "${f.dir}"\n`;
  writeFileSync(cfg, `${base}nodes = "127.0.0.1:8500"\n`);
  t.match(run(['-onetime', '-config-file', cfg, '-state-dir', f.state]), { code: 64, err: /confd\.toml: nodes must be an array of strings, not a string/ });
  writeFileSync(cfg, `${base}onetime = "yes"\n`);
  t.match(run(['-config-file', cfg, '-state-dir', f.state]), { code: 64, err: /confd\.toml: onetime must be a boolean, not a string/ });
  writeFileSync(cfg, `${base}interval = [1]\n`);
  t.match(run(['-onetime', '-config-file', cfg, '-state-dir', f.state]), { code: 64, err: /confd\.toml: interval must be a duration/ });
  t.notOk(existsSync(f.dest));
  writeFileSync(cfg, `${base}onetime = true\ninterval = 90\nnodes = ["127.0.0.1:8500"]\n`);
  t.match(run(['-config-file', cfg, '-state-dir', f.state]), { code: 64, err: /--node\/--consul: not used by --backend file/ }, 'a well-typed store setting the backend ignores is still refused');
  t.notOk(existsSync(f.dest));
  writeFileSync(cfg, `${base}onetime = true\ninterval = 90\nprefix = ""\n`);
  t.match(run(['-config-file', cfg, '-state-dir', f.state]), { code: 0 });
  t.ok(existsSync(f.dest), 'a well-typed file is applied');
});

t.test("-config-file reads confd 0.17's own confd.toml as it is: log-level, sync-only, a file list", async (t) => {
  const f = fixture(t);
  const cfg = join(f.dir, 'confd.toml');
  writeFileSync(cfg, `backend = "file"\nfile = ["${f.kv}"]\nconfdir = "${f.dir}"\nlog-level = "error"\nsync-only = false\nonetime = true\n`);
  const r = run(['-config-file', cfg, '-state-dir', f.state]);
  t.equal(r.code, 0, r.err);
  t.ok(existsSync(f.dest), 'rendered');
  t.notMatch(r.err, /updated/, 'log-level = "error" is applied');
  writeFileSync(cfg, `backend = "etcdv4"\n`);
  t.match(run(['-onetime', '-config-file', cfg, '-state-dir', f.state]), { code: 64, err: /etcdv4/ }, 'a backend neither spelling knows is still refused');
});

t.test('-noop exits 0 as confd even with changes pending; plan exits 2', async (t) => {
  const f = fixture(t);
  const noop = run(['-onetime', '-noop', ...f.args]);
  t.equal(noop.code, 0);
  t.match(noop.out, /\+servers: a/);
  t.equal(run(['plan', ...f.args]).code, 2);
  t.notOk(existsSync(f.dest));
});

t.test('dest = "-" writes the render to stdout; a FIFO dest is refused with a clear error and nothing hangs', async (t) => {
  const f = fixture(t);
  f.conf('', '-');
  const dry = run(['-onetime', ...f.args]);
  t.equal(dry.code, 0, dry.err);
  t.equal(dry.out, 'servers: a\n');
  const fifo = join(f.dir, 'out/fifo');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0);
  f.conf('', fifo);
  const r = run(['-onetime', ...f.args]);
  t.equal(r.code, 65);
  t.match(r.err, /dest ".*\/out\/fifo" is a FIFO, not a regular file/);
  t.match(run(['-onetime', '-noop', ...f.args]), { code: 65 }, '-noop refuses it too');
});

// --- logs -------------------------------------------------------------------------------------------

t.test('--log-level takes confd and pino names; a bad one is a usage error for every bin', async (t) => {
  const f = fixture(t);
  for (const level of ['panic', 'fatal', 'error', 'warn', 'warning', 'info', 'debug', 'trace', 'WARNING']) {
    t.equal(run(['-onetime', '-noop', '--log-level', level, ...f.args]).code, 0, level);
  }
  t.match(run(['-onetime', '--log-level', 'loud', ...f.args]), { code: 64, err: /--log-level: "loud" is not one of panic, fatal, error, warn/ });
  t.match(run(['--server', '127.0.0.1:1', '--backend', 'file', '--file', f.kv, '--once', '--log-level', 'loud'], 'checkmemcached'), { code: 64, err: /--log-level: "loud"/ });
  const quiet = run(['-onetime', '--log-level', 'warning', ...f.args]);
  t.equal(quiet.err, '', 'warning hides the info lines');
});

t.test('-onetime and plan end with one summary line, also when nothing changed', async (t) => {
  const f = fixture(t, 'reload_cmd = "true"');
  t.match(run(['plan', ...f.args]).err, /\] 1 resource: 1 would change, 0 in sync\n$/);
  t.match(run(['-onetime', ...f.args]).err, /\] 1 resource: 1 changed, 0 in sync; 1 reload\n$/);
  t.match(run(['-onetime', ...f.args]).err, /\] 1 resource: 0 changed, 1 in sync; 0 reloads\n$/);
  t.match(run(['plan', ...f.args]).err, /\] 1 resource: 0 would change, 1 in sync\n$/);
});

t.test('--log-format json gives fields: level by name, resource, dest, outcome, err with message and code, durations', async (t) => {
  const f = fixture(t, 'reload_cmd = "true"');
  const ok = run(['-onetime', '--log-format', 'json', ...f.args]);
  const lines = ok.err.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(lines.find((l) => l.outcome === 'updated'), { level: 'info', resource: 'conf.d/a.toml', dest: f.dest, outcome: 'updated' });
  t.match(lines.find((l) => l.outcome === 'reloaded'), { level: 'info', dest: f.dest, durationMs: Number });
  t.match(lines.at(-1), { level: 'info', summary: { resources: 1, changed: 1, inSync: 0, failed: 0, reloads: 1 } });
  writeFileSync(f.kv, JSON.stringify({ 'haproxy/x/a': '1', 'haproxy/x/b': '2' }));
  f.conf('check_cmd = "exit 3"');
  const bad = run(['-onetime', '--log-format', 'json', ...f.args]);
  t.equal(bad.code, 1);
  const failed = bad.err.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.outcome === 'failed');
  t.match(failed, { level: 'error', resource: 'conf.d/a.toml', dest: f.dest, err: { message: /check_cmd exited with 3/, code: 'RESOURCE_CHECK_FAILED' } });
  t.notOk((failed?.err as Record<string, unknown>).stack, 'no stack trace in the log');
});

t.test('--log-format json: a bad entry, a template error and a broken conf.d each log an error an alert can use', async (t) => {
  const f = fixture(t, '', { 'haproxy/x/a': JSON.stringify({ name: 'b', host: '127.0.0.1', port: 1, proxyport: 2 }) });
  const json = (r: { err: string }) => r.err.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const errorsOf = (r: { err: string }) => json(r).filter((l) => l.level === 'error' || l.level === 'warn');
  writeFileSync(join(f.dir, 'templates/a.hbs'), '{{#each (gets "/haproxy/x/*")}}{{#with (entry Value)}}listen {{name}}{{/with}}{{/each}}\n');
  const bad = run(['-onetime', '--log-format', 'json', ...f.args]);
  t.equal(bad.code, 65);
  t.match(errorsOf(bad), [{ resource: 'conf.d/a.toml', key: '/haproxy/x/a', outcome: 'bad-entry', err: { code: 'TEMPLATE_BAD_VALUE', message: /is not the key's tag/ } }], 'the bad entry: resource, key, code');
  writeFileSync(join(f.dir, 'templates/a.hbs'), '{{#each (gets "/haproxy/x/*")}}\n');
  const template = run(['-onetime', '--log-format', 'json', ...f.args]);
  t.ok(errorsOf(template).length > 0);
  for (const l of errorsOf(template)) t.match(l, { resource: 'conf.d/a.toml', err: { code: /^TEMPLATE_/ } }, `a template error names the resource and its code: ${String(l.msg)}`);
  writeFileSync(join(f.dir, 'conf.d/a.toml'), '[template\n');
  const toml = run(['-onetime', '--log-format', 'json', ...f.args]);
  t.equal(toml.code, 65);
  t.ok(errorsOf(toml).length > 0);
  for (const l of errorsOf(toml)) t.match(l, { err: { code: 'RESOURCE_INVALID', message: /conf\.d\/a\.toml: TOML syntax error at line 1/ } }, `a broken conf.d names the file and its code: ${String(l.msg)}`);
});

t.test('a store outage is logged once when it starts, as a count while it lasts, and once when it ends', async (t) => {
  const f = fixture(t);
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const p = start(t, ['--watch', '--node', double.address, '--confdir', f.dir, '--state-dir', f.state, '--wait', '20ms:100ms']);
  await double.faults.refuseConnections(false);
  t.ok(await until(() => p.err().includes('backend consul')), 'the watcher started');
  await sleep(500);
  await double.faults.refuseConnections(true);
  t.ok(await until(() => /outage started/.test(p.err())), p.err());
  await sleep(3000);
  await double.faults.refuseConnections(false);
  // The retried blocking query is held until something changes: a write ends it.
  await fetch(`${double.url}/v1/kv/haproxy/x/b`, { method: 'PUT', body: '2' });
  t.ok(await until(() => /recovered after \d+ failure/.test(p.err())), `the end of the outage is logged\n${p.err()}`);
  const warnings = p.err().split('\n').filter((l) => / WARN /.test(l));
  t.equal(warnings.length, 1, `one warning for a 3 s outage, not one per retry:\n${warnings.join('\n')}`);
  p.child.kill('SIGTERM');
  t.match(await p.exit, { code: 0 });
});

t.test('a corrupt store file is one warning and one recovery, however many prefixes are watched', async (t) => {
  const f = fixture(t, '', { 'haproxy/x/a': '1', 'haproxy/y/b': '2', 'haproxy/z/c': '3' });
  f.conf('', f.dest);
  writeFileSync(join(f.dir, 'conf.d/b.toml'), `[template]\nsrc = "a.hbs"\ndest = "${join(f.dir, 'out/b.cfg')}"\nkeys = ["/haproxy/y", "/haproxy/z"]\n`);
  const p = start(t, ['--watch', ...f.args, '--wait', '20ms:100ms']);
  t.ok(await until(() => existsSync(join(f.dir, 'out/b.cfg')) && existsSync(f.dest)), p.err());
  const good = readFileSync(f.kv, 'utf8');
  writeFileSync(f.kv, '{"haproxy/x/a": ');
  t.ok(await until(() => /outage started/.test(p.err())), p.err());
  await sleep(1500);
  writeFileSync(f.kv, good.replace('"1"', '"4"'));
  t.ok(await until(() => /recovered after/.test(p.err())), p.err());
  await sleep(500);
  const lines = p.err().split('\n');
  t.equal(lines.filter((l) => / WARN /.test(l)).length, 1, `one warning for three watched prefixes:\n${p.err()}`);
  t.equal(lines.filter((l) => /recovered after/.test(l)).length, 1, 'one recovery');
  p.child.kill('SIGTERM');
  t.match(await p.exit, { code: 0 });
});

t.test('a checker logs a change with its reason at info and nothing per pass in a steady state', async (t) => {
  const mem = await startMemcached();
  t.teardown(() => mem.stop());
  const spare = await startMemcached();
  t.teardown(() => spare.stop());
  const dir = t.testdir({});
  const p = start(t, ['--server', `127.0.0.1:${mem.port},127.0.0.1:${spare.port}`, '--tag', 'steady', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--interval', '50ms'], 'checkmemcached');
  t.ok(await until(() => /set new alive/.test(p.out())), p.err());
  await sleep(1500);
  const lines = p.out().trim().split('\n');
  t.ok(lines.some((l) => l.endsWith(`steady: no entry yet → active 127.0.0.1:${mem.port}`)), 'the change, with its reason');
  t.ok(lines.length <= 4, `about 30 passes, a handful of lines:\n${lines.join('\n')}`);
  t.ok(lines.filter((l) => / is ok$/.test(l)).length <= 1, 'the ok line is not repeated each pass');
  await mem.stop();
  const moved = new RegExp(`steady: 127\\.0\\.0\\.1:${mem.port} failed \\(.+, 1 of 1\\) → active 127\\.0\\.0\\.1:${spare.port}$`, 'm');
  t.ok(await until(() => moved.test(p.out())), `the failover names the failed server, why, and the new one:\n${p.out()}`);
  p.child.kill('SIGTERM');
  t.match(await p.exit, { code: 0 });
});

// --- signals ----------------------------------------------------------------------------------------

t.test('SIGTERM mid-check ends the run within 5 s: the check is killed with its group, dest and stage files as they were', async (t) => {
  const f = fixture(t);
  const pidFile = join(f.dir, 'check.pid');
  f.conf(`check_cmd = "sleep 30 & echo $! > ${pidFile}; wait"`);
  const p = start(t, [...f.args, '--interval', '600']);
  t.ok(await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''), 'the check runs');
  const sleeper = Number(readFileSync(pidFile, 'utf8'));
  p.child.kill('SIGTERM');
  const exit = await p.exit;
  t.ok(exit.ms < 5000, `exited ${exit.ms} ms after SIGTERM`);
  t.equal(exit.code, 0);
  t.ok(await until(() => !alive(sleeper), 2000), 'the check command\'s child is gone');
  t.notOk(existsSync(f.dest), 'dest left as it was');
  t.same(stageFiles(join(f.dir, 'out')), [], 'no stage file left');
});

t.test('SIGTERM during reload_cmd lets the reload finish, keeps the new dest and exits 0', async (t) => {
  const f = fixture(t);
  const started = join(f.dir, 'reload.started');
  const done = join(f.dir, 'reload.done');
  f.conf(`reload_cmd = "touch ${started}; sleep 1.5; touch ${done}"`);
  const p = start(t, [...f.args, '--interval', '600']);
  t.ok(await until(() => existsSync(started)), 'the reload runs');
  p.child.kill('SIGTERM');
  const exit = await p.exit;
  t.equal(exit.code, 0, p.err());
  t.ok(existsSync(done), 'the reload was not killed');
  t.equal(readFileSync(f.dest, 'utf8'), 'servers: a\n', 'the new dest stays');
  t.match(p.err(), /SIGTERM: stopping; a running reload finishes/);
});

t.test('SIGTERM during a reload that fails exits non-zero and restores dest', async (t) => {
  const f = fixture(t);
  writeFileSync(f.dest, 'servers: old\n');
  const started = join(f.dir, 'reload.started');
  f.conf(`reload_cmd = "touch ${started}; sleep 1; exit 3"`);
  const p = start(t, [...f.args, '--interval', '600']);
  t.ok(await until(() => existsSync(started)), 'the reload runs');
  p.child.kill('SIGTERM');
  const exit = await p.exit;
  t.equal(exit.code, 1, 'the change could not be applied');
  t.equal(readFileSync(f.dest, 'utf8'), 'servers: old\n');
});

t.test('a second SIGTERM exits at once, killing the running command and removing the stage file', async (t) => {
  const f = fixture(t);
  const pidFile = join(f.dir, 'reload.pid');
  f.conf(`reload_cmd = "sleep 30 & echo $! > ${pidFile}; wait"`);
  const p = start(t, [...f.args, '--interval', '600']);
  t.ok(await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''), 'the reload runs');
  const sleeper = Number(readFileSync(pidFile, 'utf8'));
  p.child.kill('SIGTERM');
  await sleep(300);
  t.equal(p.child.exitCode, null, 'the first SIGTERM waits for the reload');
  p.child.kill('SIGTERM');
  const exit = await p.exit;
  t.ok(exit.ms < 3000, `exited ${exit.ms} ms after the first SIGTERM`);
  t.equal(exit.code, 143);
  t.ok(await until(() => !alive(sleeper), 2000), 'no orphaned reload');
  t.same(stageFiles(join(f.dir, 'out')), []);
});

t.test('SIGHUP re-reads conf.d, templates and the config file and renders at once', async (t) => {
  const f = fixture(t);
  const cfg = join(f.dir, 'confd.toml');
  writeFileSync(cfg, `log_level = "info"\n`);
  const p = start(t, [...f.args, '--interval', '600', '-config-file', cfg]);
  t.ok(await until(() => existsSync(f.dest) && readFileSync(f.dest, 'utf8') === 'servers: a\n'), p.err());
  writeFileSync(join(f.dir, 'templates/a.hbs'), 'hosts:{{#each (ls "/haproxy/x")}} {{this}}{{/each}}\n');
  writeFileSync(cfg, `log_level = "debug"\n`);
  p.child.kill('SIGHUP');
  t.ok(await until(() => readFileSync(f.dest, 'utf8') === 'hosts: a\n'), `re-rendered with the new template\n${p.err()}`);
  t.match(p.err(), /SIGHUP: re-reading the configuration/);
  t.notMatch(p.err(), /in sync/, 'no debug lines yet');
  p.child.kill('SIGHUP');
  t.ok(await until(() => /a\.cfg in sync/.test(p.err())), 'log_level = "debug" from the re-read config file is in force');
  t.equal(p.child.exitCode, null, 'still running');
  p.child.kill('SIGTERM');
  t.match(await p.exit, { code: 0 });
  t.same(stageFiles(join(f.dir, 'out')), []);
});

t.test('SIGHUP re-reads the --trust-key files; an unreadable key keeps the previous trust keys and --allow-dest policy', async (t) => {
  const f = fixture(t);
  const keys = join(f.dir, 'keys');
  t.match(run(['keygen', `-out=${keys}`]), { code: 0 });
  const p = start(t, [...f.args, '--config-from-store', '--trust-key', join(keys, 'push.pub'), `-allow-dest=${join(f.dir, 'out')}/`]);
  t.ok(await until(() => existsSync(f.dest) && readFileSync(f.dest, 'utf8') === 'servers: a\n'), p.err());
  copyFileSync(join(keys, 'push.key'), join(keys, 'push.pub'));
  p.child.kill('SIGHUP');
  t.ok(await until(() => /SIGHUP: --trust-key .*push\.pub: a private key.*keeping the previous configuration/.test(p.err())), p.err());
  const outside = join(f.dir, 'a.cfg');
  f.conf('', outside);
  p.child.kill('SIGHUP');
  t.ok(await until(() => /a\.cfg is outside every --allow-dest/.test(p.err())), `the kept policy refuses the new dest\n${p.err()}`);
  t.notOk(existsSync(outside));
  t.equal(p.child.exitCode, null, 'still running');
  p.child.kill('SIGTERM');
  t.match(await p.exit, { code: 0 });
});

t.test('SIGHUP during a check kills the check with its group and renders again; nothing is orphaned', async (t) => {
  const f = fixture(t);
  const pidFile = join(f.dir, 'check.pid');
  f.conf(`check_cmd = "sleep 30 & echo $! > ${pidFile}; wait"`);
  const p = start(t, [...f.args, '--interval', '600']);
  t.ok(await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''), 'the check runs');
  const first = Number(readFileSync(pidFile, 'utf8'));
  writeFileSync(pidFile, '');
  p.child.kill('SIGHUP');
  t.ok(await until(() => !alive(first), 3000), 'the first check is gone');
  t.ok(await until(() => readFileSync(pidFile, 'utf8').trim() !== ''), 'a new pass checks again');
  t.equal(p.child.exitCode, null, 'SIGHUP does not end the renderer');
  p.child.kill('SIGTERM');
  t.match(await p.exit, { code: 0 });
  t.same(stageFiles(join(f.dir, 'out')), []);
});

t.test('a checker re-reads its config on SIGHUP and keeps running', async (t) => {
  const mem = await startMemcached();
  t.teardown(() => mem.stop());
  const dir = t.testdir({});
  const p = start(t, ['--server', `127.0.0.1:${mem.port}`, '--tag', 'hup', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--interval', '100ms'], 'checkmemcached');
  t.ok(await until(() => /set new alive/.test(p.out())), p.err());
  p.child.kill('SIGHUP');
  t.ok(await until(() => /re-read the configuration/.test(p.out())), p.out());
  await sleep(300);
  t.equal(p.child.exitCode, null, 'still running');
  p.child.kill('SIGTERM');
  t.match(await p.exit, { code: 0 });
});
