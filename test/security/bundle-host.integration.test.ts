// A signed bundle changes HAProxy's configuration, not the host. Each attack is a bundle signed with
// the key the instance trusts (keygen, push --sign-key, through the store), as its signer would
// write it: it cannot make haproxy -c run Lua it wrote, copy the host's files through src, read the
// environment, hand out setuid or foreign-owned files, or write outside the files the instance names
// through a symlink. And a renderer in --watch checks where a file lands when it writes it, so a
// symlink swapped in after the resources loaded is caught.
import t from 'tap';
import type { Test } from 'tap';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulStore, createFileStore } from '@confd-haproxy/kv';
import { publishBundle, readFleet, readSignKey, readTrustKey, runFleet, type BundleEvent, type BundleFiles, type LocalPolicy } from '@confd-haproxy/fleet';
import { runWatch, type PassResult } from '@confd-haproxy/renderer';
import * as resource from '@confd-haproxy/resource';
import { quiet, startConsulDouble, tempDir } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The instance's store token, in its environment as on a real host. */
const TOKEN = 'c0ffee00-1111-4222-8333-444455556666';
/** The README's literal check. */
const CHECK = '/usr/sbin/haproxy -c -f {{.src}}';

// Asynchronous on purpose: the Consul double answers from this very process.
const run = (args: string[]) =>
  new Promise<{ code: number; out: string }>((done) =>
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` }),
    ),
  );

/** A [template] table; strings and numbers as TOML writes them. */
const toml = (fields: Record<string, string | number | string[]>) => `[template]\n${Object.entries(fields).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n')}\n`;

/** A configuration haproxy -c accepts, with `global` lines of the caller's. */
const haproxyCfg = (global: string) => `global\n${global}defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nlisten app\n    bind 127.0.0.1:18999\n    server s1 127.0.0.1:18998\n`;

function writeFiles(dir: string, files: BundleFiles): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** Until `cond` holds, at most `ms`. */
async function until(cond: () => boolean, ms = 20_000): Promise<boolean> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await sleep(50);
  return cond();
}

interface Host {
  dir: string;
  /** Where the instance lets bundles write (what the policy names). */
  out: string;
  outside: string;
  events: BundleEvent[];
  /** The signer: `push --sign-key` of these files from its own confdir; its output and the version published. */
  push(files: BundleFiles): Promise<{ code: number; out: string; version: number }>;
  /** The signer without the push command: the files signed with the key and written to the store. */
  sign(files: BundleFiles): Promise<number>;
  /** What the instance did with `version`. */
  outcome(version: number): Promise<BundleEvent | undefined>;
  /** The instance's published status, as every store reader sees it. */
  status(): Promise<string>;
}

/** An HAProxy host's instance (--config-from-store, --trust-key, the policy), with the store token in its environment, and the signer's key. */
async function host(t: Test, policy: (dirs: { out: string; outside: string }) => LocalPolicy): Promise<Host> {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const dir = tempDir('bundle-host');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  const outside = join(dir, 'outside');
  for (const d of [out, outside, join(dir, 'etc')]) mkdirSync(d, { recursive: true });
  const keygen = await run(['keygen', '--out', join(dir, 'keys')]);
  t.equal(keygen.code, 0, keygen.out);
  const store = createConsulStore({ address: double.address });
  const events: BundleEvent[] = [];
  const ac = new AbortController();
  const running = runFleet({
    store,
    stateDir: join(dir, 'state'),
    confdir: join(dir, 'etc'),
    logger: quiet,
    signal: ac.signal,
    env: { PATH: process.env.PATH, CONSUL_HTTP_TOKEN: TOKEN, HAPROXY_STATS_SOCKET: join(dir, 'admin.sock') },
    trustKeys: [readTrustKey(join(dir, 'keys/push.pub'))],
    policy: policy({ out, outside }),
    diffsBeforeSync: 1,
    checkIntervalMs: 50,
    retryRefusedMs: 600_000,
    statusTtlMs: 10_000,
    wait: { minMs: 20, maxMs: 200 },
    onBundle: (e) => events.push(e),
  });
  t.teardown(async () => {
    ac.abort();
    await running;
    await store.close();
  });
  let pushes = 0;
  return {
    dir,
    out,
    outside,
    events,
    async push(files) {
      const src = writeFiles(join(dir, 'signer', String(++pushes)), files);
      const r = await run(['push', '--sign-key', join(dir, 'keys/push.key'), '--confdir', src, '--state-dir', join(dir, 'signer-state'), '--backend', 'consul', '--node', double.address]);
      return { ...r, version: Number(/pushed version (\d+)/.exec(r.out)?.[1] ?? 0) };
    },
    async sign(files) {
      return (await publishBundle(store, files, { id: '00000000-0000-4000-8000-00000000000a', host: 'ci' }, undefined, readSignKey(join(dir, 'keys/push.key')))).bundle.version;
    },
    async outcome(version) {
      await until(() => events.some((e) => e.version === version));
      return events.find((e) => e.version === version);
    },
    status: async () => JSON.stringify(await readFleet(store)),
  };
}

/** Every file under dir, with its content. */
const filesUnder = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => `${join(d.parentPath, d.name)}: ${readFileSync(join(d.parentPath, d.name), 'utf8')}`);

t.test('a signed bundle cannot make haproxy -c run Lua it wrote beside haproxy.cfg, even where the instance allows every file of the directory', async (t) => {
  const h = await host(t, ({ out }) => ({ allowCommands: [CHECK], allowDests: [`${out}/`] }));
  const ran = join(h.dir, 'lua-ran');
  const pushed = await h.push({
    // Named so the Lua is written before haproxy.cfg is checked.
    'conf.d/a-lua.toml': toml({ src: 'evil.lua.hbs', dest: join(h.out, 'evil.lua'), keys: ['/haproxy/app'] }),
    'templates/evil.lua.hbs': `local f = io.open("${ran}", "w")\nf:write("ran")\nf:close()\n`,
    'conf.d/b-haproxy.toml': toml({ src: 'haproxy.cfg.hbs', dest: join(h.out, 'haproxy.cfg'), keys: ['/haproxy/app'], check_cmd: CHECK }),
    'templates/haproxy.cfg.hbs': haproxyCfg(`    lua-load ${join(h.out, 'evil.lua')}\n`),
  });
  t.equal(pushed.code, 0, `the signer pushes it: ${pushed.out}`);
  const e = await h.outcome(pushed.version);
  t.match(e, { adopted: false, refusal: 'not allowed', reason: /^not allowed \(conf\.d\/b-haproxy\.toml: .*\/out\/haproxy\.cfg line 2: lua-load loads Lua code into HAProxy; a rendered file may use it only with --allow-directive "lua-load"\)$/ }, 'refused, naming the resource, line and directive');
  t.notOk(existsSync(ran), 'the Lua never ran');
  t.same(filesUnder(h.out), [], 'nothing of the bundle was written');
});

t.test('with --allow-dest naming haproxy.cfg, a signed bundle cannot even write a second file beside it', async (t) => {
  const h = await host(t, ({ out }) => ({ allowCommands: [CHECK], allowDests: [join(out, 'haproxy.cfg')] }));
  const pushed = await h.push({
    'conf.d/a-lua.toml': toml({ src: 'evil.lua.hbs', dest: join(h.out, 'evil.lua'), keys: ['/haproxy/app'] }),
    'templates/evil.lua.hbs': 'core.Info("hello")\n',
    'conf.d/b-haproxy.toml': toml({ src: 'haproxy.cfg.hbs', dest: join(h.out, 'haproxy.cfg'), keys: ['/haproxy/app'], check_cmd: CHECK }),
    'templates/haproxy.cfg.hbs': haproxyCfg(''),
  });
  t.equal(pushed.code, 0, pushed.out);
  t.match(await h.outcome(pushed.version), { adopted: false, refusal: 'not allowed', reason: /^not allowed \(conf\.d\/a-lua\.toml: dest .*\/out\/evil\.lua is outside every --allow-dest\)$/ });
  t.same(filesUnder(h.out), []);
});

t.test('every spelling that makes haproxy -c load Lua is refused in a rendered file', async (t) => {
  const dir = tempDir('lua-spellings');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lua = join(dir, 'evil.lua');
  const rules = resource.outputRules({ allowCommands: [], allowDests: [] }, true)!;
  const spellings = [`lua-load ${lua}`, `"lua-load" ${lua}`, `'lua-load' ${lua}`, `lua""-load ${lua}`, `\\x6cua-load ${lua}`, `\vlua-load ${lua}`, `lua-load-per-thread ${lua}`, `setenv K lua-load\n    "\${K}" ${lua}`];
  for (const [i, spelling] of spellings.entries()) {
    const ran = join(dir, `ran-${i}`);
    writeFileSync(lua, `local f = io.open("${ran}", "w")\nf:close()\n`);
    const cfg = haproxyCfg(`    ${spelling}\n`);
    writeFileSync(join(dir, 'haproxy.cfg'), cfg);
    await new Promise((done) => execFile('/usr/sbin/haproxy', ['-c', '-q', '-f', join(dir, 'haproxy.cfg')], { timeout: 30_000 }, done));
    t.ok(existsSync(ran), `${JSON.stringify(spelling)}: haproxy -c runs the Lua`);
    t.match(resource.renderedProblem({ name: 'conf.d/haproxy.toml', dest: 'haproxy.cfg' }, cfg, rules), { code: 'RESOURCE_NOT_ALLOWED', message: /^conf\.d\/haproxy\.toml: haproxy\.cfg line \d: / }, `${JSON.stringify(spelling)}: refused`);
  }
});

t.test("a signed bundle cannot copy the host's files through src, climbing out of its templates or by an absolute path", async (t) => {
  const h = await host(t, ({ out }) => ({ allowCommands: [], allowDests: [`${out}/`] }));
  const shadow = join(h.dir, 'host/shadow');
  writeFiles(h.dir, { 'host/shadow': 'root:$6$host-secret-hash:19000:0:99999:7:::\n' });
  chmodSync(shadow, 0o600);
  const pushed = await h.push({
    'conf.d/absolute.toml': toml({ src: shadow, dest: join(h.out, 'absolute'), keys: ['/haproxy/app'] }),
    'conf.d/climb.toml': toml({ src: `${'../'.repeat(16)}${shadow.slice(1)}`, dest: join(h.out, 'climbed'), keys: ['/haproxy/app'] }),
    'templates/unused.hbs': '\n',
  });
  t.equal(pushed.code, 0, pushed.out);
  const e = await h.outcome(pushed.version);
  t.match(e, { adopted: false, refusal: 'not allowed' });
  t.match(e?.reason, /conf\.d\/absolute\.toml: \[template\]\.src ".*\/host\/shadow" is not under the bundle's templates\/: a bundle renders only its own templates/);
  t.match(e?.reason, /conf\.d\/climb\.toml: \[template\]\.src "\.\.\/\.\.\/.*\/host\/shadow" is not under the bundle's templates\//);
  t.same(filesUnder(h.out), [], 'no copy of the file was written');
});

t.test("a signed bundle's templates read only the environment names the instance allows, and so does the HAProxy configuration it renders", async (t) => {
  const h = await host(t, ({ out }) => ({ allowCommands: [CHECK], allowDests: [`${out}/`], allowEnv: ['HAPROXY_STATS_SOCKET'] }));
  const text = (template: string, name = 'env.txt') => ({ 'conf.d/env.toml': toml({ src: 'env.hbs', dest: join(h.out, name), keys: ['/haproxy/app'] }), 'templates/env.hbs': template });
  for (const template of ['token {{getenv "CONSUL_HTTP_TOKEN"}}\n', 'token {{getenv "CONSUL_HTTP_TOKEN" "none"}}\n']) {
    const pushed = await h.push(text(template));
    t.equal(pushed.code, 0, pushed.out);
    t.match(await h.outcome(pushed.version), {
      adopted: false,
      refusal: 'not allowed',
      reason: /^not allowed \(env\.hbs:1:\d+: getenv: "CONSUL_HTTP_TOKEN" is not an environment variable these templates may read \(the instance allows it with --allow-env CONSUL_HTTP_TOKEN\)\)$/,
    }, `${template.trim()}: refused, naming the variable`);
  }
  const haproxy = await h.push({
    'conf.d/haproxy.toml': toml({ src: 'haproxy.cfg.hbs', dest: join(h.out, 'haproxy.cfg'), keys: ['/haproxy/app'], check_cmd: CHECK }),
    'templates/haproxy.cfg.hbs': haproxyCfg('    .notice "token ${CONSUL_HTTP_TOKEN}"\n'),
  });
  t.equal(haproxy.code, 0, haproxy.out);
  t.match(await h.outcome(haproxy.version), { adopted: false, refusal: 'not allowed', reason: /line 2: "\$\{CONSUL_HTTP_TOKEN\}" makes HAProxy read the environment variable CONSUL_HTTP_TOKEN, which a bundle may read only with --allow-env CONSUL_HTTP_TOKEN/ }, 'HAProxy would read it: refused before haproxy -c ran');
  const allowed = await h.push(text('socket {{getenv "HAPROXY_STATS_SOCKET" "/run/haproxy/admin.sock"}}\n', 'socket.txt'));
  t.match(await h.outcome(allowed.version), { adopted: true }, 'a name the instance allows is read');
  t.equal(readFileSync(join(h.out, 'socket.txt'), 'utf8'), `socket ${join(h.dir, 'admin.sock')}\n`);
  t.notMatch(filesUnder(h.out).join('\n'), TOKEN, 'the token is in no file written');
  t.notMatch(await h.status(), TOKEN, 'nor in the status every store reader sees');
});

t.test('a signed bundle cannot make a setuid or world-writable file, nor give one to an owner the instance did not allow', async (t) => {
  const h = await host(t, ({ out }) => ({ allowCommands: [], allowDests: [`${out}/`], allowOwners: [{ uid: 65534, gid: 65534 }] }));
  const file = (name: string, fields: Record<string, string | number>) => ({ [`conf.d/${name}.toml`]: toml({ src: 'x.hbs', dest: join(h.out, name), keys: ['/haproxy/app'], ...fields }), 'templates/x.hbs': '#!/bin/sh\nexec /bin/sh\n' });
  const setuid = file('setuid', { mode: '6777', uid: 65534, gid: 65534 });
  const pushed = await h.push(setuid);
  t.match(pushed, { code: 65, out: /conf\.d\/setuid\.toml: \[template\]\.mode "6777" sets the setuid, setgid or sticky bit/ }, 'push refuses it on the signer\'s side');
  t.match(await h.outcome(await h.sign(setuid)), { adopted: false, refusal: 'not allowed', reason: /^not allowed \(conf\.d\/setuid\.toml: \[template\]\.mode "6777" sets the setuid, setgid or sticky bit, which a rendered file never needs\)$/ }, 'and the instance refuses it signed without push');
  t.match(await h.outcome(await h.sign(file('writable', { mode: '0666' }))), { adopted: false, refusal: 'not allowed', reason: /\[template\]\.mode "0666" lets every user write dest/ });
  const other = await h.push(file('owned', { mode: '0640', uid: 1, gid: 1 }));
  t.match(await h.outcome(other.version), { adopted: false, refusal: 'not allowed', reason: /conf\.d\/owned\.toml: uid 1 and gid 1: a bundle may give a dest only the instance's own owner \(0:0\) or one --allow-owner names \(--allow-owner 1:1\)/ });
  t.same(filesUnder(h.out), [], 'none of them was written');
  const allowed = await h.push(file('owned', { mode: '0640', uid: 65534, gid: 65534 }));
  t.match(await h.outcome(allowed.version), { adopted: true }, 'an owner --allow-owner names is given');
  t.match(statSync(join(h.out, 'owned')), { uid: 65534, gid: 65534, mode: 0o100640 });
});

t.test('a dest outside the allowed files that is a symlink to one is refused; neither the link nor the file it leads to changes', async (t) => {
  const h = await host(t, ({ out }) => ({ allowCommands: [], allowDests: [`${out}/`] }));
  writeFileSync(join(h.out, 'haproxy.cfg'), 'the operator\'s\n');
  symlinkSync(join(h.out, 'haproxy.cfg'), join(h.outside, 'evil.cfg'));
  const pushed = await h.push({ 'conf.d/x.toml': toml({ src: 'x.hbs', dest: join(h.outside, 'evil.cfg'), keys: ['/haproxy/app'] }), 'templates/x.hbs': 'written by the bundle\n' });
  t.equal(pushed.code, 0, pushed.out);
  t.match(await h.outcome(pushed.version), { adopted: false, refusal: 'not allowed', reason: /^not allowed \(conf\.d\/x\.toml: dest .*\/outside\/evil\.cfg is outside every --allow-dest\)$/ });
  t.ok(lstatSync(join(h.outside, 'evil.cfg')).isSymbolicLink(), 'the link is still a link');
  t.equal(readFileSync(join(h.out, 'haproxy.cfg'), 'utf8'), 'the operator\'s\n', 'and the file it leads to is unchanged');
});

t.test('in --watch, a symlink swapped in after the resources loaded is caught when the file is written, and the watcher goes on', async (t) => {
  const dir = writeFiles(tempDir('watch-swap'), { 'templates/x.hbs': 'servers:{{#each (gets "/haproxy/app/*")}} {{base Key}}{{/each}}\n', 'out/.keep': '', 'outside/victim': 'the victim\n', 'kv.json': '{}' });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  unlinkSync(join(dir, 'out/.keep'));
  const [out, outside, current] = [join(dir, 'out'), join(dir, 'outside'), join(dir, 'current')];
  symlinkSync(out, current);
  writeFiles(dir, { 'conf.d/x.toml': toml({ src: 'x.hbs', dest: join(current, 'haproxy.cfg'), keys: ['/haproxy/app'] }) });
  const store = createFileStore({ file: join(dir, 'kv.json') });
  const passes: PassResult[] = [];
  const ac = new AbortController();
  const watching = runWatch({ store, confdir: dir, logger: quiet, signal: ac.signal, env: {}, policy: { allowCommands: [], allowDests: [`${out}/`] }, wait: { minMs: 20, maxMs: 200 }, onPass: (p) => passes.push(p) });
  t.teardown(async () => {
    ac.abort();
    await watching;
    await store.close();
  });
  const written = () => (existsSync(join(out, 'haproxy.cfg')) ? readFileSync(join(out, 'haproxy.cfg'), 'utf8') : '');
  const refusedAfter = async (n: number) => {
    await until(() => passes.slice(n).some((p) => !p.ok));
    return passes.slice(n).find((p) => !p.ok)?.errors[0];
  };
  await store.put('haproxy/app/a', '{}');
  t.ok(await until(() => written() === 'servers: a\n'), 'written through the link while it leads into the allowed directory');

  unlinkSync(current);
  symlinkSync(outside, current);
  let seen = passes.length;
  await store.put('haproxy/app/b', '{}');
  t.match(await refusedAfter(seen), { code: 'RESOURCE_NOT_ALLOWED', message: /^conf\.d\/x\.toml: dest .*\/current\/haproxy\.cfg \(.*\/outside\/haproxy\.cfg\) is outside every --allow-dest at the time of writing; nothing was read or written there$/ }, 'the swapped link is caught when the file would be written');
  t.notOk(existsSync(join(outside, 'haproxy.cfg')), 'nothing landed outside');
  t.equal(written(), 'servers: a\n', 'the allowed file is left as it was');

  unlinkSync(current);
  symlinkSync(out, current);
  await store.put('haproxy/app/c', '{}');
  t.ok(await until(() => written() === 'servers: a b c\n'), 'the watcher goes on once the link leads back');

  unlinkSync(join(out, 'haproxy.cfg'));
  symlinkSync(join(outside, 'victim'), join(out, 'haproxy.cfg'));
  seen = passes.length;
  await store.put('haproxy/app/d', '{}');
  t.match(await refusedAfter(seen), { code: 'RESOURCE_NOT_ALLOWED', message: /dest .*\/current\/haproxy\.cfg is a symlink to .*\/outside\/victim, outside every --allow-dest/ }, 'dest itself swapped for a link out is refused too');
  t.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'the victim\n', 'the file it leads to is neither read into a diff nor changed');
  t.ok(lstatSync(join(out, 'haproxy.cfg')).isSymbolicLink(), 'and the link is left alone');
});
