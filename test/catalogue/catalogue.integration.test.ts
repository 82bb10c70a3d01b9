// The catalogue: one row per bad input or fault, its expected outcome, and after each row the
// checks that matter to users — the last good haproxy.cfg is still in place, the process did not
// crash, and no entry was lost. It ends with one summary line.
import t from 'tap';
import type { Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tagConfig } from '@confd-haproxy/check-mysql';
import { parseGaleraConfig } from '@confd-haproxy/check-galera';
import { bundleChecksum, generatePushKey, readBundleFiles, readSignKey, readTrustKey, runFleet, signBundle, BUNDLE_KEY, type Bundle, type LocalPolicy, type RefusalKind } from '@confd-haproxy/fleet';
import { createConsulStore, createFileStore, type KVStore } from '@confd-haproxy/kv';
import { runOnce, runWatch, type PassResult, type RendererOptions } from '@confd-haproxy/renderer';
import { alive, type ConsulDouble, quiet, shippedConfdir, startConsulDouble } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GOOD: Record<string, string> = {
  'haproxy/mysqlslave/slave3301': JSON.stringify({ name: 'slave3301', host: '127.0.0.1', port: 3301, proxyport: 13351 }),
  'haproxy/memcached/mem11211': JSON.stringify({ name: 'mem11211', host: '127.0.0.1', port: 11211, proxyport: 16211, servers: [{ host: '127.0.0.1', port: 11211, weight: 100, role: 'active' }] }),
};

interface Env {
  dir: string;
  dest: string;
  store: KVStore;
  double?: ConsulDouble;
  opts: RendererOptions & { store: KVStore };
  good: string;
  conf(extra: string): void;
}

/** A confdir with the shipped templates, real `haproxy -c`, and a first good render. */
async function env(t: Test, backend: 'file' | 'consul' = 'file', toml = ''): Promise<Env> {
  const { dir, dest, remove } = shippedConfdir('catalogue');
  t.teardown(remove);
  const conf = (extra: string) =>
    writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "${dest}"\nkeys = ["/haproxy/mysqlslave", "/haproxy/memcached"]\ncheck_cmd = "/usr/sbin/haproxy -c -f {{.src}}"\n${extra}`);
  conf(toml);
  let store: KVStore;
  let double: ConsulDouble | undefined;
  if (backend === 'consul') {
    double = await startConsulDouble();
    t.teardown(() => double!.close());
    store = createConsulStore({ address: double.address, timeoutMs: 1000 });
  } else store = createFileStore({ file: join(dir, 'kv.json'), pollMs: 200 });
  t.teardown(() => store.close());
  for (const [k, v] of Object.entries(GOOD)) await store.put(k, v);
  const opts: Env['opts'] = { store, confdir: dir, logger: quiet, signal: new AbortController().signal, env: { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: join(dir, 'a.sock') }, commandTimeoutMs: 2000 };
  const first = await runOnce(opts);
  if (!first.ok) throw new Error(`the first render failed: ${first.errors.map((e) => e.message).join('; ')}`);
  return { dir, dest, store, double, opts, good: readFileSync(dest, 'utf8'), conf };
}

const tally = { bad: 0, faults: 0, crashes: 0, applied: 0, lost: 0 };

/** After every row: the good file is in place (or a valid new one), and the good entries are all there. */
async function aftermath(t: Test, e: Env, opts: { destMayChange?: boolean } = {}) {
  const now = readFileSync(e.dest, 'utf8');
  if (!opts.destMayChange && now !== e.good) {
    tally.applied++;
    t.fail('the last good haproxy.cfg was replaced');
  }
  const check = spawnSync('/usr/sbin/haproxy', ['-c', '-f', e.dest], { encoding: 'utf8' });
  if (check.status !== 0) {
    tally.applied++;
    t.fail(`dest is not a valid config: ${check.stderr}`);
  }
  e.double?.faults.fail(0, 0);
  e.double?.faults.delay(0);
  e.double?.faults.knownLeader(true);
  await e.double?.faults.refuseConnections(false);
  for (const [k, v] of Object.entries(GOOD)) {
    const got = await e.store.get(k).catch(() => undefined);
    if (got?.value !== v) {
      tally.lost++;
      t.fail(`entry ${k} was lost`);
    }
  }
}

/** One onetime pass that must fail with an error matching `expect`, without throwing. */
async function failingPass(t: Test, e: Env, expect: RegExp, opts: Partial<RendererOptions> = {}): Promise<PassResult | undefined> {
  let pass: PassResult;
  try {
    pass = await runOnce({ ...e.opts, ...opts });
  } catch (err) {
    tally.crashes++;
    t.fail(`the renderer threw: ${(err as Error).message}`);
    return undefined;
  }
  t.equal(pass.ok, false, 'the pass fails');
  t.match(pass.errors.map((x) => x.message).join('\n'), expect, 'with an error naming the problem');
  return pass;
}

// --- bad KV values ------------------------------------------------------------------------------
const badValues: [string, string, RegExp][] = [
  ['not JSON', '{"name": "bad",', /\/haproxy\/mysqlslave\/bad: json: value is not JSON/],
  ['a port as a string', JSON.stringify({ name: 'bad', host: 'h', port: '3306', proxyport: 13356 }), /\/haproxy\/mysqlslave\/bad: entry: port "3306" is not a port number/],
  ['a negative port', JSON.stringify({ name: 'bad', host: 'h', port: -1, proxyport: 13356 }), /entry: port -1 is not a port number/],
  ['a port above 65535', JSON.stringify({ name: 'bad', host: 'h', port: 3306, proxyport: 70000 }), /entry: proxyport 70000 is not a port number/],
  ['a missing name', JSON.stringify({ host: 'h', port: 3306, proxyport: 13356 }), /entry: name undefined is not/],
  ['a name with a space', JSON.stringify({ name: 'a b', host: 'h', port: 3306, proxyport: 13356 }), /entry: name "a b" is not/],
  ['a name with #', JSON.stringify({ name: 'a#b', host: 'h', port: 3306, proxyport: 13356 }), /entry: name "a#b" is not/],
  ['a name with a newline', JSON.stringify({ name: 'a\nlisten evil', host: 'h', port: 3306, proxyport: 13356 }), /\/haproxy\/mysqlslave\/bad: entry: name "a\\nlisten evil" is not/],
  ['a name with }}', JSON.stringify({ name: 'a}}b', host: 'h', port: 3306, proxyport: 13356 }), /entry: name "a}}b" is not/],
  ['a host with a newline', JSON.stringify({ name: 'bad', host: '10.0.0.1\n    server evil 6.6.6.6:1', port: 3306, proxyport: 13356 }), /entry: host .* is not a host name/],
  ['a server role that does not exist', JSON.stringify({ name: 'bad', host: 'h', port: 3306, proxyport: 13356, servers: [{ host: 'h', port: 3306, role: 'primary' }] }), /servers\[0\]\.role "primary"/],
];
for (const [what, value, expect] of badValues) {
  t.test(`bad value: ${what} fails the render naming the key; the old file stays`, async (t) => {
    tally.bad++;
    const e = await env(t);
    await e.store.put('haproxy/mysqlslave/bad', value);
    const pass = await failingPass(t, e, expect);
    t.equal(pass?.exitCode, 65, 'bad input: exit 65');
    await aftermath(t, e);
  });
}

t.test('bad value: non-UTF-8 bytes in the file store fail naming the key', async (t) => {
  tally.bad++;
  const e = await env(t);
  const file = join(e.dir, 'kv.json');
  const doc = readFileSync(file);
  const text = doc.toString('latin1').replace('"haproxy/mysqlslave/slave3301"', `"haproxy/mysqlslave/bad": "{\\"name\\":\\"b\xff\xfe\\",\\"host\\":\\"h\\",\\"port\\":1,\\"proxyport\\":2}", "haproxy/mysqlslave/slave3301"`);
  writeFileSync(file, Buffer.from(text, 'latin1'));
  await failingPass(t, e, /\/haproxy\/mysqlslave\/bad: entry: name/);
  await aftermath(t, e);
});

t.test('bad value: a 1 MB value is read, its unknown field never reaches the config', async (t) => {
  tally.bad++;
  const e = await env(t);
  await e.store.put('haproxy/mysqlslave/big', JSON.stringify({ name: 'big', host: '127.0.0.1', port: 3310, proxyport: 13360, junk: 'x'.repeat(1024 * 1024) }));
  const pass = await runOnce(e.opts);
  t.equal(pass.ok, true);
  t.ok(readFileSync(e.dest, 'utf8').length < 10_000, 'the config stays small');
  await aftermath(t, e, { destMayChange: true });
});

t.test('bad value: 10,000 keys render in bounded time into a valid config', async (t) => {
  tally.bad++;
  const e = await env(t);
  const file = join(e.dir, 'kv.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (let i = 0; i < 10_000; i++) doc[`haproxy/memcached/m${i}`] = JSON.stringify({ name: `m${i}`, host: '127.0.0.1', port: 11211, proxyport: 20000 + i });
  writeFileSync(file, JSON.stringify(doc));
  const started = Date.now();
  const pass = await runOnce({ ...e.opts, commandTimeoutMs: 60_000 });
  t.equal(pass.ok, true, pass.errors.map((x) => x.message).join('; '));
  t.ok(Date.now() - started < 60_000, `rendered and checked in ${Date.now() - started} ms`);
  await aftermath(t, e, { destMayChange: true });
});

// --- bad templates and resources ------------------------------------------------------------------
const badTemplates: [string, string, RegExp][] = [
  ['a syntax error', '{{#each (gets "/haproxy/mysqlslave/*")}}\nlisten {{name}\n{{/each}}', /t\.hbs.*Parse error|t\.hbs:\d+.*(syntax|Parse)/i],
  ['an unknown helper', '{{nosuch "x"}}', /t\.hbs.*nosuch/],
  ['a missing partial', '{{> nowhere}}', /t\.hbs.*nowhere/],
];
for (const [what, text, expect] of badTemplates) {
  t.test(`bad template: ${what} is an error naming the file; the old file stays`, async (t) => {
    tally.bad++;
    const e = await env(t);
    rmSync(join(e.dir, 'templates'));
    mkdirSync(join(e.dir, 'templates'));
    writeFileSync(join(e.dir, 'templates/t.hbs'), text);
    writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), readFileSync(join(e.dir, 'conf.d/haproxy.toml'), 'utf8').replace('haproxy.cfg.hbs', 't.hbs'));
    const pass = await failingPass(t, e, expect);
    t.equal(pass?.exitCode, 65);
    await aftermath(t, e);
  });
}

const badToml: [string, (e: Env) => void, RegExp][] = [
  ['a TOML syntax error', (e) => writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), '[template\nsrc = "x"\n'), /conf\.d\/haproxy\.toml: TOML syntax error at line 1/],
  ['an unknown field', (e) => e.conf('reload_command = "x"\n'), /\[template\]\.reload_command is not a known field/],
  ['a missing src', (e) => writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), `[template]\ndest = "${e.dest}"\nkeys = ["/a"]\n`), /\[template\]\.src is required/],
  ['a missing dest', (e) => writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), '[template]\nsrc = "haproxy.cfg.hbs"\nkeys = ["/a"]\n'), /\[template\]\.dest is required/],
  ['a bad mode', (e) => e.conf('mode = "0999"\n'), /\[template\]\.mode "0999" is not an octal file mode/],
  ['a dest directory that is missing', (e) => writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "${e.dir}/nowhere/haproxy.cfg"\nkeys = ["/a"]\n`), /directory .*nowhere does not exist/],
  ['a services entry that is not a service', (e) => e.conf('services = ["we b"]\n'), /\[template\]\.services entry "we b" is not a service/],
  ['services on a store without a service catalog', (e) => e.conf('services = ["web"]\n'), /conf\.d\/haproxy\.toml: \[template\]\.services needs a store with a service catalog/],
];
for (const [what, apply, expect] of badToml) {
  t.test(`bad resource: ${what} is an error naming the file and field`, async (t) => {
    tally.bad++;
    const e = await env(t);
    apply(e);
    const pass = await failingPass(t, e, expect);
    t.equal(pass?.exitCode, 65);
    await aftermath(t, e);
  });
}

t.test('bad resource: a reload_cmd outside --allow-command or a dest outside --allow-dest fails the pass before anything runs', async (t) => {
  tally.bad += 2;
  const e = await env(t);
  const marker = join(e.dir, 'marker');
  e.conf(`reload_cmd = "touch ${marker}"\n`);
  await e.store.put('haproxy/mysqlslave/slave3302', JSON.stringify({ name: 'slave3302', host: '127.0.0.1', port: 3302, proxyport: 13352 }));
  const policy = { allowCommands: ['/usr/sbin/haproxy -c -f *', 'systemctl reload haproxy'], allowDests: [`${join(e.dir, 'out')}/`] };
  const pass = await failingPass(t, e, /^conf\.d\/haproxy\.toml: reload_cmd "touch .*marker" matches no --allow-command$/, { policy });
  t.equal(pass?.exitCode, 65);
  t.notOk(existsSync(marker), 'reload_cmd did not run');
  e.conf('');
  await failingPass(t, e, /^conf\.d\/haproxy\.toml: dest .*out\/haproxy\.cfg is outside every --allow-dest$/, { policy: { ...policy, allowDests: [`${join(e.dir, 'conf.d')}/`] } });
  t.ok((await runOnce({ ...e.opts, policy })).ok, 'within the policy the pass runs');
  await e.store.delete('haproxy/mysqlslave/slave3302');
  await runOnce(e.opts);
  await aftermath(t, e);
});

t.test('bad db.conf: a missing section, field or a bad port is an error naming file, section and field', async (t) => {
  tally.bad += 3;
  t.throws(() => tagConfig('db.conf', {}, 's1'), { code: 'CHECKER_CONFIG', message: /db\.conf: no section \[s1\]/ });
  t.throws(() => tagConfig('db.conf', { s1: { port: '1', user: 'u' } }, 's1'), { message: /db\.conf: \[s1\] host is required/ });
  t.throws(() => tagConfig('db.conf', { s1: { host: 'h', port: 'x', user: 'u' } }, 's1'), { message: /db\.conf: \[s1\] port "x" is not a port/ });
});

// The renderer keeps status and last good entries in --state-dir: a temporary one, never /var/lib.
const stateDir = mkdtempSync(join(tmpdir(), 'confd-haproxy-catalogue-state-'));
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
const run = (bin: string, args: string[]) =>
  new Promise<{ code: number; err: string }>((done) =>
    execFile(process.execPath, [join(root, `packages/cli/bin/${bin}.js`), ...args, ...(bin === 'confd-haproxy' ? ['--state-dir', stateDir] : [])], { encoding: 'utf8', timeout: 30_000 }, (error, _out, err) =>
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, err }),
    ),
  );
const badFlags: [string, string[], RegExp][] = [
  ['confd-haproxy', ['--interval', 'soon', '--backend', 'file', '--file', 'x'], /--interval: "soon" is not a duration/],
  ['confd-haproxy', ['--wait', '5s:1s', '--backend', 'file', '--file', 'x'], /--wait: max \(1s\) is below min \(5s\)/],
  ['confd-haproxy', ['--backend', 'zookeeper'], /--backend: "zookeeper" is not consul, etcd or file/],
  ['checkmemcached', ['--server', 'x:1', '--backend', 'file', '--file', 'x', '--timeout', '1 sec'], /--timeout: "1 sec" is not a duration/],
  ['checkmemcached', ['--server', 'nohostport', '--backend', 'file', '--file', 'x'], /--server: "nohostport" is not host:port/],
  ['checkmysqlslave', ['--conf', 'x', '--tag', 't', '--retry-up', '0', '--backend', 'file', '--file', 'x'], /--retry-up: "0" is not a whole number/],
  ['confd-haproxy', ['--backend', 'file', '--file', 'x', '--client-cert', 'c.pem', '--client-key', 'k.pem'], /--client-cert, --client-key: not used by --backend file/],
  ['confd-haproxy', ['--backend', 'consul', '--username', 'u', '--password', 'p'], /--username\/--etcd-username, --password\/--etcd-password-file: not used by --backend consul/],
  ['confd-haproxy', ['--backend', 'etcd', '--auth-token', 'tok'], /--auth-token\/--token: not used by --backend etcd/],
  ['confd-haproxy', ['--backend', 'etcd', '--client-cert', 'c.pem'], /--client-cert and --client-key go together/],
  ['confd-haproxy', ['--backend', 'etcd', '--basic-auth'], /--basic-auth needs --username and --password/],
  ['confd-haproxy', ['--backend', 'etcd', '--etcd-layout', 'flat'], /--etcd-layout: "flat" is not confd or bare/],
  ['checkmemcached', ['--server', 'x:1', '--backend', 'file', '--file', 'x', '--client-ca-keys', 'ca.pem'], /--client-ca-keys: not used by --backend file/],
  ['checkmemcached', ['--server', 'x:1', '--backend', 'consul', '--consul', '127.0.0.1:1', '--etcd-username', 'u'], /--username\/--etcd-username: not used by --backend consul/],
  ['checkmemcached', ['--server', 'x:1', '--backend', 'file', '--file', 'x', '--prefix', 'a b'], /--prefix: "a b" is not a key prefix/],
  ['checkredis', ['--server', '127.0.0.1:6379', '--backend', 'file', '--file', 'x', '--insecure'], /--insecure: only with --tls/],
  ['checkredis', ['--server', '127.0.0.1:6379', '--backend', 'file', '--file', 'x', '--cert', 'c.pem'], /--cert and --key go together/],
  ['checkredis', ['--server', '127.0.0.1:6379', '--backend', 'file', '--file', 'x', '--cacert', '/nonexistent/ca.pem'], /--cacert: cannot read \/nonexistent\/ca\.pem/],
  ['confd-haproxy', ['--trust-key', 'push.pub', '--backend', 'file', '--file', 'x'], /--trust-key applies to bundles: it needs --config-from-store/],
  ['confd-haproxy', ['--config-from-store', '--allow-dest', 'etc/haproxy', '--backend', 'file', '--file', 'x'], /--allow-dest: "etc\/haproxy" is not an absolute path/],
  ['confd-haproxy', ['--log-level', 'loud', '--backend', 'file', '--file', 'x'], /--log-level: "loud" is not one of panic, fatal, error, warn/],
  ['checkmemcached', ['--server', 'x:1', '--backend', 'file', '--file', 'x', '--log-level', 'loud'], /--log-level: "loud" is not one of/],
  ['confd-haproxy', ['--interval', '1m30x', '--backend', 'file', '--file', 'x'], /--interval: "1m30x" is not a duration/],
  ['confd-haproxy', ['--onetime=maybe', '--backend', 'file', '--file', 'x'], /onetime/],
  ['confd-haproxy', ['--etcd-layout', 'bare', 'plan', '--backend', 'file', '--file', 'x'], /--etcd-layout: not used by --backend file/],
  ['confd-haproxy', ['--backend', 'etcd', '--create-file'], /--create-file: not used by --backend etcd/],
  ['checkmemcached', ['-server=x:1', '-backend=file', '-file=x', '-etcd-layout=bare'], /--etcd-layout: not used by --backend file/],
  ['checkredis', ['--server', '127.0.0.1:6379', '--backend', 'file', '--file', 'x', '-insecure=true'], /--insecure: only with --tls/],
];
for (const [bin, args, expect] of badFlags) {
  t.test(`bad flag: ${bin} ${args.join(' ')} exits 64 with a message naming the flag`, async (t) => {
    tally.bad++;
    const r = await run(bin, args);
    t.equal(r.code, 64);
    t.match(r.err, expect);
  });
}

// A store the renderer cannot open as asked: it exits before touching dest.
const badStores: [string, (e: Env) => string[], number, RegExp][] = [
  ['an etcd CA file that does not exist', () => ['--backend', 'etcd', '--node', 'https://127.0.0.1:1', '--client-ca-keys', '/nonexistent/ca.pem'], 65, /etcd: cannot read the CA certificate \/nonexistent\/ca\.pem/],
  ['etcd TLS files with an http:// node', (e) => ['--backend', 'etcd', '--node', 'http://127.0.0.1:1', '--client-ca-keys', e.dest], 65, /TLS files are given but a --node is http:\/\//],
  ['a TLS flag on the file store', (e) => ['--backend', 'file', '--file', join(e.dir, 'kv.json'), '--client-ca-keys', e.dest], 64, /--client-ca-keys: not used by --backend file/],
];
for (const [what, args, code, expect] of badStores) {
  t.test(`bad store flags: ${what} exits ${code} naming the flag or file; the old file stays`, async (t) => {
    tally.bad++;
    const e = await env(t);
    const r = await run('confd-haproxy', ['--onetime', '--confdir', e.dir, ...args(e)]);
    t.equal(r.code, code, r.err);
    t.match(r.err, expect);
    await aftermath(t, e);
  });
}

/** confd-haproxy -onetime on the row's confdir with these flags; the last good haproxy.cfg must stay. */
const onetime = (e: Env, flags: string[]) => run('confd-haproxy', ['--onetime', '--confdir', e.dir, ...flags]);
const badRuns: [string, (e: Env) => string[], number, RegExp][] = [
  ['a --file path that does not exist', (e) => ['--backend', 'file', '--file', join(e.dir, 'kv-typo.json')], 66, /--file .*kv-typo\.json: no such file/],
  ['a config file with a string where an array belongs', (e) => {
    writeFileSync(join(e.dir, 'confd.toml'), `backend = "file"\nfile = "${join(e.dir, 'kv.json')}"\nnodes = "127.0.0.1:8500"\n`);
    return ['-config-file', join(e.dir, 'confd.toml')];
  }, 64, /confd\.toml: nodes must be an array of strings, not a string/],
  ['a config file with a string where basic_auth wants a boolean', (e) => {
    writeFileSync(join(e.dir, 'confd.toml'), `backend = "etcd"\nbasic_auth = "yes"\nusername = "u"\npassword = "p"\n`);
    return ['-config-file', join(e.dir, 'confd.toml')];
  }, 64, /confd\.toml: basic_auth must be a boolean, not a string/],
  ['a dest that is a FIFO', (e) => {
    spawnSync('mkfifo', [join(e.dir, 'out/fifo')]);
    writeFileSync(join(e.dir, 'conf.d/fifo.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "${join(e.dir, 'out/fifo')}"\nkeys = ["/haproxy/memcached"]\n`);
    return ['--backend', 'file', '--file', join(e.dir, 'kv.json')];
  }, 65, /dest ".*fifo" is a FIFO, not a regular file/],
];
for (const [what, setup, code, expect] of badRuns) {
  t.test(`bad input: ${what} exits ${code} naming it, and the last good haproxy.cfg stays`, async (t) => {
    tally.bad++;
    const e = await env(t);
    const r = await onetime(e, setup(e));
    t.equal(r.code, code, r.err);
    t.match(r.err, expect);
    await aftermath(t, e);
  });
}

t.test('bad TLS settings in db.conf and the galera TOML name the file, section and setting', async (t) => {
  tally.bad += 4;
  const base = { host: 'h', port: '3306', user: 'u' };
  t.throws(() => tagConfig('db.conf', { s1: { ...base, 'ssl-ca': '/nonexistent/ca.pem' } }, 's1'), { code: 'CHECKER_CONFIG', message: /db\.conf: \[s1\] ssl-ca: cannot read \/nonexistent\/ca\.pem/ });
  t.throws(() => tagConfig('db.conf', { s1: { ...base, 'ssl-key': '/nonexistent/k.pem' } }, 's1'), { message: /db\.conf: \[s1\] ssl-cert is required with ssl-key/ });
  const galera = (tls: string) => `[cluster.c1]\nuser = "u"\n${tls}\n[[cluster.c1.node]]\nhost = "127.0.0.1"\nport = 3306\n`;
  t.throws(() => parseGaleraConfig('galera.toml', galera('sslCa = "/nonexistent/ca.pem"')), { code: 'CHECKER_CONFIG', message: /galera\.toml: cluster\.c1\.sslCa: cannot read \/nonexistent\/ca\.pem/ });
  t.throws(() => parseGaleraConfig('galera.toml', galera('sslCa = 42')), { message: /galera\.toml: cluster\.c1\.sslCa: 42 is not a path/ });
});

// --- fleet bundles ------------------------------------------------------------------------------
/** A --config-from-store instance on the row's confdir that trusts one key and allows one check_cmd; the bundle's outcome. */
async function refusedBundle(t: Test, e: Env, make: (ctx: { files: Record<string, string>; sign: (b: Bundle) => Bundle; marker: string }) => Bundle, policy?: Partial<LocalPolicy>) {
  const keys = generatePushKey(join(e.dir, 'keys'));
  const marker = join(e.dir, 'marker');
  const files = readBundleFiles(e.dir);
  const bundle = make({ files, sign: (b) => signBundle(b, readSignKey(keys.keyFile)), marker });
  const ac = new AbortController();
  const outcome: { adopted: boolean; refusal?: RefusalKind; reason?: string }[] = [];
  let crashed = false;
  const running = runFleet({
    ...e.opts,
    stateDir: join(e.dir, 'state'),
    signal: ac.signal,
    diffsBeforeSync: 1,
    checkIntervalMs: 50,
    trustKeys: [readTrustKey(keys.pubFile)],
    policy: { allowCommands: ['/usr/sbin/haproxy -c -f *'], allowDests: [`${join(e.dir, 'out')}/`], ...policy },
    onBundle: (b) => outcome.push(b),
  }).catch(() => {
    crashed = true;
  });
  t.teardown(async () => {
    ac.abort();
    await running;
  });
  await e.store.put(BUNDLE_KEY, JSON.stringify(bundle));
  for (let i = 0; i < 200 && !outcome.length; i++) await sleep(50);
  if (crashed) tally.crashes++;
  t.notOk(crashed, 'the instance keeps running');
  t.notOk(existsSync(marker), 'no command of the bundle ran');
  return outcome[0];
}
const bundleOf = (files: Record<string, string>, version = 7): Bundle => ({ version, checksum: bundleChecksum(files), pushedBy: 'intruder', host: 'elsewhere', pushedAt: new Date().toISOString(), files });
const withToml = (files: Record<string, string>, extra: string) => ({ ...files, 'conf.d/haproxy.toml': `${files['conf.d/haproxy.toml']}${extra}` });
const badBundles: [string, Parameters<typeof refusedBundle>[2], RegExp, Partial<LocalPolicy>?][] = [
  ['an unsigned bundle whose reload_cmd would run touch', ({ files, marker }) => bundleOf(withToml(files, `reload_cmd = "touch ${marker}"\n`)), /^untrusted \(the bundle is not signed\)$/],
  [
    'a bundle signed by a key the instance does not trust',
    ({ files, marker }) => signBundle(bundleOf(withToml(files, `reload_cmd = "touch ${marker}"\n`)), readSignKey(generatePushKey(join(marker, '..', 'stranger')).keyFile)),
    /^untrusted \(signed by key \w+…, which is not a --trust-key\)$/,
  ],
  [
    'a signed bundle with its files swapped afterwards',
    ({ files, marker, sign }) => {
      const evil = withToml(files, `reload_cmd = "touch ${marker}"\n`);
      return { ...sign(bundleOf(files)), files: evil, checksum: bundleChecksum(evil) };
    },
    /^untrusted \(the signature by key \w+… .* does not match the bundle\)$/,
  ],
  ['a signed bundle whose reload_cmd matches no --allow-command', ({ files, marker, sign }) => sign(bundleOf(withToml(files, `reload_cmd = "touch ${marker}"\n`))), /^not allowed \(conf\.d\/haproxy\.toml: reload_cmd "touch .*marker" matches no --allow-command\)$/],
  [
    'a signed bundle whose check_cmd chains a second command onto an allowed glob',
    ({ files, marker, sign }) => sign(bundleOf({ ...files, 'conf.d/haproxy.toml': files['conf.d/haproxy.toml']!.replace('-f {{.src}}', `-f {{.src}} && touch ${marker}`) })),
    /^not allowed \(conf\.d\/haproxy\.toml: check_cmd ".* && touch .*" is not plain words \(shell operator "&&"\): it runs without a shell\)$/,
  ],
  [
    'a signed bundle whose dest leads out of --allow-dest through a symlink',
    ({ files, sign, marker }) => {
      const dir = join(marker, '..');
      mkdirSync(join(dir, 'elsewhere'));
      symlinkSync(join(dir, 'elsewhere'), join(dir, 'out/link'));
      return sign(bundleOf({ ...files, 'conf.d/haproxy.toml': files['conf.d/haproxy.toml']!.replace(/dest = "[^"]*"/, `dest = "${join(dir, 'out/link/haproxy.cfg')}"`) }));
    },
    /^not allowed \(conf\.d\/haproxy\.toml: dest .*out\/link\/haproxy\.cfg \(.*elsewhere\/haproxy\.cfg\) is outside every --allow-dest\)$/,
  ],
];
for (const [what, make, expect, policy] of badBundles) {
  t.test(`bad bundle: ${what} is refused before anything runs; the old file stays`, async (t) => {
    tally.bad++;
    const e = await env(t);
    const outcome = await refusedBundle(t, e, make, policy);
    t.match(outcome, { adopted: false, reason: expect }, 'refused, with the reason');
    t.notOk(existsSync(join(e.dir, 'elsewhere/haproxy.cfg')), 'nothing was written outside --allow-dest');
    await aftermath(t, e);
  });
}

t.test('bad bundle: push of a confdir holding a password exits 65 naming the file and line, and publishes nothing', async (t) => {
  tally.bad++;
  const e = await env(t);
  rmSync(join(e.dir, 'templates'));
  mkdirSync(join(e.dir, 'templates'));
  writeFileSync(join(e.dir, 'templates/haproxy.cfg.hbs'), `${readFileSync(join(root, 'templates/haproxy.cfg.hbs'), 'utf8')}\nuserlist ops\n    user admin insecure-password hunter22\n`);
  for (const p of ['partials']) symlinkSync(join(root, 'templates', p), join(e.dir, 'templates', p));
  const r = await run('confd-haproxy', ['push', '--backend', 'file', '--file', join(e.dir, 'kv.json'), '--confdir', e.dir, '--state-dir', join(e.dir, 'state')]);
  t.equal(r.code, 65);
  t.match(r.err, /looks like it holds credentials .*\n {2}templates\/haproxy\.cfg\.hbs:\d+: an HAProxy userlist password/);
  t.notMatch(r.err, /hunter22/, 'the value is not repeated');
  t.equal(await e.store.get(BUNDLE_KEY), undefined);
  await aftermath(t, e);
});

t.test('bad flag: a private key as --trust-key exits 65 naming the flag and the file', async (t) => {
  tally.bad++;
  const dir = t.testdir({});
  const k = generatePushKey(join(dir, 'k'));
  const r = await run('confd-haproxy', ['--config-from-store', '--trust-key', k.keyFile, '--backend', 'file', '--file', join(dir, 'kv.json')]);
  t.equal(r.code, 65);
  t.match(r.err, /--trust-key .*push\.key: a private key; give the public one/);
});

// --- faults -------------------------------------------------------------------------------------
const consulFaults: [string, (d: ConsulDouble) => void | Promise<void>, RegExp][] = [
  ['Consul down at start', (d) => d.faults.refuseConnections(true), /ECONNREFUSED|unreachable|connect/i],
  ['Consul answering 500', (d) => d.faults.fail(500), /server error 500/],
  ['Consul slower than the client timeout', (d) => d.faults.delay(3000), /timed out|timeout/i],
  ['Consul without a known leader', (d) => d.faults.knownLeader(false), /without a known leader/],
];
for (const [what, inject, expect] of consulFaults) {
  t.test(`fault: ${what} fails the pass clearly and leaves the file`, async (t) => {
    tally.faults++;
    const e = await env(t, 'consul');
    await inject(e.double!);
    await failingPass(t, e, expect);
    await aftermath(t, e);
  });
}

t.test('fault: 403 after the token is revoked names the permission problem', async (t) => {
  tally.faults++;
  const double = await startConsulDouble({ acl: { tokens: { tok: [{ prefix: '', policy: 'write' }] } } });
  t.teardown(() => double.close());
  const e = await env(t, 'consul');
  const store = createConsulStore({ address: double.address, token: 'tok' });
  t.teardown(() => store.close());
  for (const [k, v] of Object.entries(GOOD)) await store.put(k, v);
  double.revokeToken('tok');
  await failingPass(t, e, /permission denied \(the ACL token is unknown or was revoked/, { store });
  await aftermath(t, e);
});

t.test('fault: Consul down mid-watch, an index going backwards, then recovery: the watcher keeps going', async (t) => {
  tally.faults += 2;
  const e = await env(t, 'consul');
  const ac = new AbortController();
  const passes: PassResult[] = [];
  let crashed = false;
  const watching = runWatch({ ...e.opts, signal: ac.signal, wait: { minMs: 20, maxMs: 200 }, onPass: (p) => passes.push(p) }).catch(() => {
    crashed = true;
  });
  t.teardown(async () => {
    ac.abort();
    await watching;
  });
  await sleep(500);
  await e.double!.faults.refuseConnections(true);
  await sleep(1500);
  await e.double!.faults.refuseConnections(false);
  e.double!.faults.resetIndex();
  await e.store.put('haproxy/mysqlslave/slave3302', JSON.stringify({ name: 'slave3302', host: '127.0.0.1', port: 3302, proxyport: 13352 }));
  let seen = false;
  for (let i = 0; i < 200 && !seen; i++) {
    seen = readFileSync(e.dest, 'utf8').includes('listen slave3302');
    if (!seen) await sleep(50);
  }
  t.ok(seen, 'the change after the outage was rendered');
  if (crashed) tally.crashes++;
  t.notOk(crashed, 'the watcher never stopped');
  await aftermath(t, e, { destMayChange: true });
});

t.test('fault: a failing check_cmd leaves dest untouched', async (t) => {
  tally.faults++;
  const e = await env(t);
  await e.store.put('haproxy/mysqlslave/bad', JSON.stringify({ name: 'bad', host: 'no-such-host.invalid', port: 3306, proxyport: 13360 }));
  await failingPass(t, e, /check_cmd exited with/);
  await aftermath(t, e);
});

for (const [what, reload, expect] of [
  ['a failing reload_cmd is rolled back', 'exit 3', /reload_cmd "exit 3" exited with 3; restored the previous/],
  ['a hanging reload_cmd is killed at its timeout and rolled back', 'sleep 60', /timed out after \d+ ms \(process group killed\); restored the previous/],
] as const) {
  t.test(`fault: ${what}`, async (t) => {
    tally.faults++;
    const e = await env(t);
    e.conf(`reload_cmd = "${reload}"\ncommand_timeout = "500ms"\n`);
    await e.store.put('haproxy/mysqlslave/slave3302', JSON.stringify({ name: 'slave3302', host: '127.0.0.1', port: 3302, proxyport: 13352 }));
    const pass = await failingPass(t, e, expect);
    t.equal(pass?.resources[0]?.rolledBack, true);
    await aftermath(t, e);
  });
}

t.test('fault: a full disk while writing the stage file leaves dest intact', async (t) => {
  tally.faults++;
  const e = await env(t);
  const mnt = join(e.dir, 'small');
  mkdirSync(mnt);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
  if (mounted.status !== 0) {
    t.comment('mount -t tmpfs is not permitted here: the full-disk row is checked with a file in place of the directory instead');
    writeFileSync(join(mnt, 'haproxy.cfg'), e.good);
  }
  t.teardown(() => spawnSync('umount', [mnt]));
  const dest = join(mnt, 'haproxy.cfg');
  writeFileSync(dest, e.good);
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(64 * 1024 - 2 * e.good.length - 8192 > 0 ? 64 * 1024 - 2 * e.good.length - 8192 : 1));
  e.conf('');
  writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), readFileSync(join(e.dir, 'conf.d/haproxy.toml'), 'utf8').replace(e.dest, dest));
  for (let i = 0; i < 200; i++) await e.store.put(`haproxy/memcached/fill${i}`, JSON.stringify({ name: `fill${i}`, host: '127.0.0.1', port: 11211, proxyport: 30000 + i }));
  await failingPass(t, e, /cannot (stage|replace)|ENOSPC|no space/i);
  t.equal(readFileSync(dest, 'utf8'), e.good, 'dest is intact');
  for (let i = 0; i < 200; i++) await e.store.delete(`haproxy/memcached/fill${i}`);
  await aftermath(t, e);
});

t.test('fault: the renderer SIGKILLed mid-write leaves the old or the new file, never a mix', async (t) => {
  tally.faults++;
  const e = await env(t);
  // Many entries make the render and its write long enough to be interrupted.
  const file = join(e.dir, 'kv.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (let i = 0; i < 5000; i++) doc[`haproxy/memcached/k${i}`] = JSON.stringify({ name: `k${i}`, host: '127.0.0.1', port: 11211, proxyport: 20000 + i });
  writeFileSync(file, JSON.stringify(doc));
  const outcomes = new Set<string>();
  for (let round = 0; round < 5; round++) {
    writeFileSync(e.dest, e.good);
    const child = execFile(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), '--onetime', '--backend', 'file', '--file', file, '--confdir', e.dir, '--command-timeout', '60s', '--state-dir', join(e.dir, 'state')], { env: { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: join(e.dir, 'a.sock') } });
    await sleep(150 + round * 120);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const now = readFileSync(e.dest, 'utf8');
    const valid = spawnSync('/usr/sbin/haproxy', ['-c', '-f', e.dest]).status === 0;
    t.ok(now === e.good || (valid && now.includes('listen k4999')), `round ${round}: dest is the old or the complete new file`);
    outcomes.add(now === e.good ? 'old' : 'new');
  }
  t.comment(`outcomes seen: ${[...outcomes].join(', ')}`);
  writeFileSync(e.dest, e.good);
  for (const k of Object.keys(doc)) if (!(k in GOOD) && k !== '@meta') delete doc[k];
  writeFileSync(file, JSON.stringify(doc));
  await aftermath(t, e);
});

t.test('fault: SIGTERM mid-check and SIGHUP mid-check leave haproxy.cfg, no stage file and no check process', async (t) => {
  tally.faults += 2;
  const e = await env(t);
  const pidFile = join(e.dir, 'check.pid');
  writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "${e.dest}"\nkeys = ["/haproxy/mysqlslave", "/haproxy/memcached"]\ncheck_cmd = "sleep 30 & echo $! > ${pidFile}; wait"\n`);
  await e.store.put('haproxy/mysqlslave/slave3302', JSON.stringify({ name: 'slave3302', host: '127.0.0.1', port: 3302, proxyport: 13352 }));
  for (const sig of ['SIGHUP', 'SIGTERM'] as const) {
    writeFileSync(pidFile, '');
    const child = execFile(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), '--backend', 'file', '--file', join(e.dir, 'kv.json'), '--confdir', e.dir, '--interval', '600', '--state-dir', join(e.dir, 'state')]);
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    for (let i = 0; i < 300 && readFileSync(pidFile, 'utf8').trim() === ''; i++) await sleep(50);
    const check = Number(readFileSync(pidFile, 'utf8'));
    t.ok(check > 0, `${sig}: the check runs`);
    child.kill(sig);
    if (sig === 'SIGHUP') {
      for (let i = 0; i < 100 && alive(check); i++) await sleep(50);
      t.notOk(alive(check), 'SIGHUP: the running check was killed with its group');
      child.kill('SIGTERM');
    }
    const code = await exited;
    if (code !== 0) tally.crashes++;
    t.equal(code, 0, `${sig}: a clean exit`);
    // A killed process is gone once its new parent (init) reaps it.
    for (let i = 0; i < 40 && alive(check); i++) await sleep(50);
    t.notOk(alive(check), `${sig}: no check process left`);
    t.same(readdirSync(join(e.dir, 'out')).filter((f) => f.startsWith('.haproxy.cfg.')), [], `${sig}: no stage file`);
  }
  await e.store.delete('haproxy/mysqlslave/slave3302');
  e.conf('');
  await aftermath(t, e);
});

t.test('fault: a read-only dest directory is a write error and dest stays', async (t) => {
  tally.faults++;
  const e = await env(t);
  const mnt = join(e.dir, 'ro');
  mkdirSync(mnt);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]).status !== 0) {
    t.comment('mount is not permitted here: root ignores directory modes, so this row cannot be set up');
    return;
  }
  t.teardown(() => spawnSync('umount', [mnt]));
  writeFileSync(join(mnt, 'haproxy.cfg'), e.good);
  spawnSync('mount', ['-o', 'remount,ro', mnt]);
  writeFileSync(join(e.dir, 'conf.d/haproxy.toml'), readFileSync(join(e.dir, 'conf.d/haproxy.toml'), 'utf8').replace(e.dest, join(mnt, 'haproxy.cfg')));
  await e.store.put('haproxy/mysqlslave/slave3302', JSON.stringify({ name: 'slave3302', host: '127.0.0.1', port: 3302, proxyport: 13352 }));
  await failingPass(t, e, /cannot stage .*(EROFS|read-only)/i);
  t.equal(readFileSync(join(mnt, 'haproxy.cfg'), 'utf8'), e.good);
  await e.store.delete('haproxy/mysqlslave/slave3302');
  await aftermath(t, e);
});

t.test('fault: a checker SIGKILLed mid-write and two checkers racing lose no entry and write no garbage', async (t) => {
  tally.faults += 2;
  const e = await env(t);
  const file = join(e.dir, 'kv.json');
  const { startMemcached } = await import('@confd-haproxy/testkit');
  const mems = [await startMemcached(), await startMemcached()];
  t.teardown(() => Promise.all(mems.map((m) => m.stop())));
  const args = (lockDir: string) => [join(root, 'packages/cli/bin/checkmemcached.js'), '--server', mems.map((m) => `127.0.0.1:${m.port}`).join(','), '--tag', 'race', '--backend', 'file', '--file', file, '--interval', '100ms', '--lock-ttl', '1s', '--lock-dir', lockDir];
  mkdirSync(join(e.dir, 'l1'));
  mkdirSync(join(e.dir, 'l2'));
  for (let round = 0; round < 4; round++) {
    const a = execFile(process.execPath, args(join(e.dir, 'l1')));
    const b = execFile(process.execPath, args(join(e.dir, 'l2')));
    // Let them start and write (bounded), then disturb them and kill both at a varying moment.
    for (let i = 0; i < 100 && !(await e.store.get('haproxy/memcached/race')); i++) await sleep(100);
    await sleep(100 + round * 150);
    mems[round % 2]!.kill(round % 2 ? 'SIGCONT' : 'SIGSTOP');
    await sleep(200);
    a.kill('SIGKILL');
    b.kill('SIGKILL');
    await Promise.all([new Promise((r) => a.once('exit', r)), new Promise((r) => b.once('exit', r))]);
    const value = (await e.store.get('haproxy/memcached/race'))?.value;
    t.ok(value !== undefined, `round ${round}: the entry exists`);
    const parsed = JSON.parse(value ?? '{}') as { name?: string; servers?: unknown[] };
    t.match(parsed, { name: 'race', servers: [{}, {}] }, `round ${round}: it is a whole entry`);
  }
  mems[0]!.kill('SIGCONT');
  await aftermath(t, e);
});

t.test('fault: a hung memcached and a hung MariaDB fail their probes within the timeout', async (t) => {
  tally.faults += 2;
  const { startMemcached, startMariaDB } = await import('@confd-haproxy/testkit');
  const { MemcachedProbe } = await import('@confd-haproxy/check-memcached');
  const { mysqlKind } = await import('@confd-haproxy/check-mysql');
  const mem = await startMemcached();
  t.teardown(() => mem.stop());
  mem.kill('SIGSTOP');
  const probe = new MemcachedProbe('127.0.0.1', mem.port);
  let started = Date.now();
  const r1 = await probe.probe(AbortSignal.timeout(300));
  probe.close();
  t.match(r1, { ok: false, reason: /timed out/ });
  t.ok(Date.now() - started < 1500, `memcached probe gave up after ${Date.now() - started} ms`);
  const db = await startMariaDB();
  t.teardown(() => db.stop());
  db.kill('SIGSTOP');
  const kind = mysqlKind({ config: tagConfig('db.conf', { s: { host: '127.0.0.1', port: String(db.port), user: 'x', password: 'y' } }, 's'), maxLag: 30, timeoutMs: 300, masterFallback: true });
  started = Date.now();
  const r2 = await kind.probe({ host: '127.0.0.1', port: db.port }, AbortSignal.timeout(300));
  await kind.close();
  t.match(r2, { ok: false });
  t.ok(Date.now() - started < 1500, `MariaDB probe gave up after ${Date.now() - started} ms`);
});

t.test('catalogue summary', async (t) => {
  const line = `catalogue: ${tally.bad} bad inputs, ${tally.faults} faults, ${tally.crashes} crashes, ${tally.applied} bad configs applied, ${tally.lost} entries lost`;
  t.comment(line);
  console.log(`# ${line}`);
  t.equal(tally.crashes + tally.applied + tally.lost, 0, line);
});
