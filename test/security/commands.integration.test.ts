// check_cmd and reload_cmd as an attacker sees them: a signed bundle (or a conf.d file) that tries
// to run a second command through an --allow-command glob, quotes around {{.src}} and a dest name
// with shell syntax; a stage path with odd characters; and a config line that asks HAProxy for
// "${CONSUL_HTTP_TOKEN}" while `haproxy -c` checks it. The renderer runs as its own process, in a
// work directory of its own, where `id>PWNED` would land.
import t from 'tap';
import type { Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleChecksum, generatePushKey, readFleet, readSignKey, signBundle, BUNDLE_KEY, type Bundle, type FleetRow } from '@confd-haproxy/fleet';
import { createConsulStore, createFileStore, type KVStore } from '@confd-haproxy/kv';
import { runOnce } from '@confd-haproxy/renderer';
import { type ConsulDouble, killAndWait, quiet, startConsulDouble } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const TOKEN = '5e1f2a3b-7c8d-4e9f-a0b1-c2d3e4f5a6b7';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A valid haproxy.cfg, so a check that runs at all passes unless something was injected. */
const CFG = 'global\n    maxconn 100\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten app\n    bind 127.0.0.1:18099\n';
const resource = (dest: string, check: string) => `[template]\nsrc = "haproxy.cfg.hbs"\ndest = ${JSON.stringify(dest)}\nkeys = ["/haproxy/memcached"]\ncheck_cmd = ${JSON.stringify(check)}\n`;
/** The attack of the issue: quotes around {{.src}} (the glob takes them) and a dest that is a command substitution. */
const ATTACK = resource('out/h$(id>PWNED).cfg', '/usr/sbin/haproxy -c -f "{{.src}}"');

function tempRoot(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-test-sec-commands-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A confdir with one resource and the template, its out/ directory made. */
function confdir(dir: string, toml: string, template = CFG): string {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  mkdirSync(join(dir, 'out'), { recursive: true });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), toml);
  writeFileSync(join(dir, 'templates/haproxy.cfg.hbs'), template);
  return dir;
}

/** Every file named PWNED under dir. */
const pwned = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('PWNED'));

/** A harmless program for check_cmd: writes how many arguments it got and each one, NUL-separated, then succeeds. */
function argvRecorder(dir: string): { path: string; seen: () => string[] | undefined } {
  const path = join(dir, 'argv-recorder');
  const out = join(dir, 'argv.out');
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\0' "$#" "$@" > ${out}\n`);
  chmodSync(path, 0o755);
  return { path, seen: () => (existsSync(out) ? readFileSync(out, 'utf8').split('\0').slice(0, -1) : undefined) };
}

interface Ran {
  code: number;
  out: string;
}

/** The renderer's bin, to its end; asynchronous, since the Consul double answers from this process. */
const run = (args: string[], opts: { cwd: string; env?: Record<string, string> }) =>
  new Promise<Ran>((done) => {
    execFile(process.execPath, [bin, ...args], { cwd: opts.cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...opts.env }, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` });
    });
  });

/** A --config-from-store instance on the Consul double, run from cwd; its log so far. */
function instance(t: Test, args: string[], opts: { cwd: string; double: ConsulDouble }): () => string {
  const child = spawn(process.execPath, [bin, '--config-from-store', '--backend', 'consul', '--node', opts.double.address, '--diffs-before-sync', '1', '--status-ttl', '10s', ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  t.teardown(() => killAndWait(child));
  return () => log;
}

/** The instance's status row once cond holds (at most 30 s); the last row seen otherwise. */
async function rowWhen(store: KVStore, cond: (row: FleetRow) => boolean): Promise<FleetRow | undefined> {
  let row: FleetRow | undefined;
  for (let i = 0; i < 300; i++) {
    row = (await readFleet(store)).rows[0];
    if (row && cond(row)) return row;
    await sleep(100);
  }
  return row;
}

const bundleOf = (files: Record<string, string>, version = 7): Bundle => ({ version, checksum: bundleChecksum(files), pushedBy: 'intruder', host: 'elsewhere', pushedAt: new Date().toISOString(), files });
const bundleFiles = (toml: string, template = CFG) => ({ 'conf.d/haproxy.toml': toml, 'templates/haproxy.cfg.hbs': template });

async function consul(t: Test): Promise<{ double: ConsulDouble; store: KVStore }> {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const store = createConsulStore({ address: double.address, timeoutMs: 2000 });
  t.teardown(() => store.close());
  return { double, store };
}

t.test('a signed bundle cannot run a root command through an --allow-command glob, quoted {{.src}} and a dest name', async (t) => {
  const dir = tempRoot(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const inst = confdir(join(dir, 'inst'), resource('out/app.cfg', '/usr/sbin/haproxy -c -f {{.src}}'));
  const keys = generatePushKey(join(dir, 'keys'));
  const { double, store } = await consul(t);
  const log = instance(t, ['--confdir', inst, '--state-dir', join(dir, 'state'), '--trust-key', keys.pubFile, '--allow-command', '/usr/sbin/haproxy -c -f *', '--allow-dest', `${join(inst, 'out')}/`], { cwd: work, double });
  t.ok(await rowWhen(store, (r) => Object.keys(r.status.dests).length > 0), 'the instance runs its own --confdir first');
  await store.put(BUNDLE_KEY, JSON.stringify(signBundle(bundleOf(bundleFiles(ATTACK)), readSignKey(keys.keyFile))));
  const row = await rowWhen(store, (r) => r.status.refused?.version === 7);
  t.match(row?.status.refused?.reason, /^conf\.d\/haproxy\.toml: \[template\]\.dest "out\/h\$\(id>PWNED\)\.cfg" holds "\$" "\(" ">" "\)": a dest may hold only letters, digits/, 'refused, naming the resource, the field and the characters');
  t.equal(row?.version, 0, 'the instance keeps its own --confdir');
  t.same(pwned(dir), [], 'id did not run');
  t.match(log(), /bundle version 7 refused: conf\.d\/haproxy\.toml: \[template\]\.dest/, 'and the log says so');
});

t.test('the plain renderer refuses the same resource in its own conf.d, and runs nothing', async (t) => {
  const dir = tempRoot(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const conf = confdir(join(dir, 'conf'), ATTACK);
  writeFileSync(join(dir, 'kv.json'), '{}');
  const r = await run(['--onetime', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', conf, '--state-dir', join(dir, 'state'), '--allow-command', '/usr/sbin/haproxy -c -f *', '--allow-dest', `${join(conf, 'out')}/`], { cwd: work });
  t.equal(r.code, 65, 'bad input');
  t.match(r.out, /conf\.d\/haproxy\.toml: \[template\]\.dest "out\/h\$\(id>PWNED\)\.cfg" holds "\$" "\(" ">" "\)"/);
  t.same(pwned(dir), [], 'id did not run');
  t.same(readdirSync(join(conf, 'out')), [], 'nothing was staged');
});

t.test('a glob word of --allow-command matches one plain word: never a space, a quote or shell syntax', async (t) => {
  const dir = tempRoot(t);
  const marker = join(dir, 'MARK');
  const allow = '/usr/sbin/haproxy -c -f *';
  const rows: [string, string][] = [
    ['two words', '/usr/sbin/haproxy -c -f {{.src}} -d'],
    ['a quoted space', '/usr/sbin/haproxy -c -f "{{.src}} -d"'],
    ['a quote', `/usr/sbin/haproxy -c -f 'x"y'`],
    ['a quoted ;', `/usr/sbin/haproxy -c -f "x;touch ${marker}"`],
    ['a ; between commands', `/usr/sbin/haproxy -c -f {{.src}}; touch ${marker}`],
    ['a $() inside double quotes', `/usr/sbin/haproxy -c -f "$(touch ${marker})"`],
    ['a backtick', `/usr/sbin/haproxy -c -f \`touch ${marker}\``],
    ['a newline', `/usr/sbin/haproxy -c -f {{.src}}\ntouch ${marker}`],
  ];
  for (const [what, check] of rows) {
    const conf = confdir(join(dir, what.replace(/\W+/g, '-')), resource('out/haproxy.cfg', check));
    writeFileSync(join(conf, 'kv.json'), '{}');
    const store = createFileStore({ file: join(conf, 'kv.json') });
    t.teardown(() => store.close());
    const pass = await runOnce({ store, confdir: conf, logger: quiet, signal: new AbortController().signal, env: { PATH: process.env.PATH }, policy: { allowCommands: [allow], allowDests: [] } });
    t.equal(pass.exitCode, 65, `${what}: refused as bad input`);
    t.match(pass.errors[0]?.message, new RegExp(`^conf\\.d/haproxy\\.toml: check_cmd ${escape(JSON.stringify(check))} (matches no --allow-command|is not plain words \\(.*\\): it runs without a shell)$`), `${what}: the error names the resource and the command`);
    t.notOk(existsSync(join(conf, 'out/haproxy.cfg')), `${what}: nothing was written`);
  }
  t.notOk(existsSync(marker), 'no command ran');
});

const escape = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** A directory name a shell would split, unquote and run. */
const ODD = `odd dir 'q' "dq" $(id>PWNED) ;&|*?`;

t.test("a bundle's check_cmd gets {{.src}} as one argument without a shell, however odd the instance's path", async (t) => {
  const dir = tempRoot(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const recorder = argvRecorder(dir);
  const inst = confdir(join(dir, ODD), '[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/app.cfg"\nkeys = ["/haproxy/memcached"]\n');
  const { double, store } = await consul(t);
  instance(t, ['--confdir', inst, '--state-dir', join(dir, 'state')], { cwd: work, double });
  t.ok(await rowWhen(store, (r) => Object.keys(r.status.dests).length > 0), 'the instance runs its own --confdir first');
  // A changed file, so the check runs.
  await store.put(BUNDLE_KEY, JSON.stringify(bundleOf(bundleFiles(resource('out/app.cfg', `${recorder.path} "{{.src}}"`), `# v7\n${CFG}`))));
  const row = await rowWhen(store, (r) => r.version === 7 || r.status.refused?.version === 7);
  t.equal(row?.version, 7, `adopted (${row?.status.refused?.reason ?? 'not refused'})`);
  const argv = recorder.seen() ?? [];
  t.equal(argv[0], '1', 'the check got one argument');
  t.match(argv[1], new RegExp(`^${escape(join(inst, 'out/.app.cfg.'))}[0-9a-f]{12}$`), 'the stage path, as it is');
  t.same(pwned(dir), [], 'nothing in the path ran');
});

t.test('with --allow-command, the plain renderer passes {{.src}} as one argument without a shell too', async (t) => {
  const dir = tempRoot(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const recorder = argvRecorder(dir);
  const conf = confdir(join(dir, ODD), resource('out/app.cfg', `${recorder.path} "{{.src}}"`));
  writeFileSync(join(dir, 'kv.json'), '{}');
  const r = await run(['--onetime', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', conf, '--state-dir', join(dir, 'state'), '--allow-command', `${recorder.path} {{.src}}`], { cwd: work });
  t.equal(r.code, 0, r.out);
  const argv = recorder.seen() ?? [];
  t.equal(argv[0], '1', 'the check got one argument');
  t.match(argv[1], new RegExp(`^${escape(join(conf, 'out/.app.cfg.'))}[0-9a-f]{12}$`), 'the stage path, as it is');
  t.equal(readFileSync(join(conf, 'out/app.cfg'), 'utf8'), CFG, 'and the checked file was swapped in');
  t.same(pwned(dir), [], 'nothing in the path ran');
});

/** A Consul double that answers only the token, and a confdir with the shipped templates checked by `haproxy -c`. */
async function tokenStore(t: Test, dir: string, toml: string): Promise<{ double: ConsulDouble; conf: string }> {
  const double = await startConsulDouble({ acl: { masterToken: TOKEN } });
  t.teardown(() => double.close());
  const conf = join(dir, 'conf');
  mkdirSync(join(conf, 'conf.d'), { recursive: true });
  mkdirSync(join(conf, 'out'));
  writeFileSync(join(conf, 'conf.d/haproxy.toml'), toml);
  return { double, conf };
}

const flags = (double: ConsulDouble, conf: string, dir: string) => ['--onetime', '--backend', 'consul', '--node', double.address, '--confdir', conf, '--state-dir', join(dir, 'state'), '--log-level', 'debug'];

t.test('haproxy -c never prints the store token, even for a catalog address that asks for "${CONSUL_HTTP_TOKEN}"', async (t) => {
  const dir = tempRoot(t);
  const { double, conf } = await tokenStore(t, dir, resource('out/haproxy.cfg', '/usr/sbin/haproxy -c -f {{.src}}').replace('haproxy.cfg.hbs', 'haproxy-services.cfg.hbs').replace('keys = ["/haproxy/memcached"]', 'keys = ["/haproxy/memcached"]\nservices = ["web", "api"]'));
  symlinkSync(join(root, 'templates'), join(conf, 'templates'));
  const register = await fetch(`${double.url}/v1/agent/service/register`, {
    method: 'PUT',
    headers: { 'X-Consul-Token': TOKEN },
    body: JSON.stringify({ Name: 'web', ID: 'web-1', Address: '127.0.0.1:9 "${CONSUL_HTTP_TOKEN}" #', Port: 80 }),
  });
  t.equal(register.status, 200, 'the attacker registered the service');
  const env = { CONSUL_HTTP_TOKEN: TOKEN, HAPROXY_STATS_SOCKET: join(dir, 'admin.sock'), WEB_BIND: '127.0.0.1:18098', API_BIND: '127.0.0.1:18097' };
  const r = await run(flags(double, conf, dir), { cwd: dir, env });
  t.notMatch(r.out, /permission denied/, 'the renderer read the store with the token');
  t.match(r.out, /resource/, `the pass ran (exit ${r.code})`);
  t.notOk(r.out.includes(TOKEN), 'no output or log line holds the token');
});

t.test('check_cmd sees the names --command-env adds, never the token: a config line with "${VAR}" shows which', async (t) => {
  const dir = tempRoot(t);
  const { double, conf } = await tokenStore(t, dir, resource('out/haproxy.cfg', '/usr/sbin/haproxy -c -f {{.src}}'));
  mkdirSync(join(conf, 'templates'));
  writeFileSync(join(conf, 'templates/haproxy.cfg.hbs'), `${CFG}    "\${CONSUL_HTTP_TOKEN}"\n    "\${LEAK_PROBE}"\n`);
  const r = await run([...flags(double, conf, dir), '--command-env', 'LEAK_PROBE'], { cwd: dir, env: { CONSUL_HTTP_TOKEN: TOKEN, LEAK_PROBE: 'probe-7f3a' } });
  t.equal(r.code, 1, 'the check failed');
  t.match(r.out, /unknown keyword 'probe-7f3a' in 'listen' section/, 'haproxy -c expanded the name it was given, and its output reached the log');
  t.notOk(r.out.includes(TOKEN), 'but never the token');
});
