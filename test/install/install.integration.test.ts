// What a user installs: the one tarball scripts/pack.mjs makes (every command bundled with its
// libraries), `npm install -g ./confd-haproxy-<version>.tgz` into an empty prefix with no registry
// to reach and an empty npm cache, as a host without network access would. From there every command
// runs, renders and checks against real services, and `npm uninstall -g` takes every file back.
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startEtcd, startMemcached } from '@confd-haproxy/testkit';
import { declaredDependencies, importedPackages, publishedPackages } from './workspaces.js';
import { COMMANDS } from 'confd-haproxy';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BINS = COMMANDS;
const HAPROXY = '/usr/sbin/haproxy';
const VERSION = (JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')) as { version: string }).version;

interface Packed {
  name: string;
  tarball: string;
  files: string[];
  bundled: string[];
}

/** scripts/pack.mjs: what a publish would upload. */
function packAll(dest: string): Packed[] {
  const out = execFileSync(process.execPath, [join(root, 'scripts/pack.mjs'), dest], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  const infos = JSON.parse(out) as { name: string; filename: string; files: { path: string }[]; bundled: string[] }[];
  return infos.map((info) => ({ name: info.name, tarball: join(dest, info.filename), files: info.files.map((f) => f.path), bundled: info.bundled }));
}

const workspaces = publishedPackages(root);

t.test('every package declares exactly the packages its code imports', async (t) => {
  for (const ws of workspaces) {
    const imported = importedPackages(ws);
    const declared = declaredDependencies(ws);
    t.same([...imported].filter((n) => !declared.has(n)), [], `${ws.manifest.name}: imports it does not declare`);
    t.same([...declared].filter((n) => !imported.has(n)), [], `${ws.manifest.name}: declares what it never imports`);
  }
});

t.test('in the clone, npm ci links every bin: npx runs them', async (t) => {
  for (const bin of BINS) {
    const r = spawnSync('npx', ['--no-install', bin, '--version'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    t.equal(`${r.status} ${r.stdout.trim()}`, `0 ${VERSION}`, `npx ${bin} --version`);
  }
});

t.test('the one tarball installs with no registry into an empty prefix; every command runs, renders and checks; uninstall takes it all back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['tarballs', 'root/usr/local', 'etc', 'out', 'npm-cache']) mkdirSync(join(dir, sub), { recursive: true });
  const packed = packAll(join(dir, 'tarballs'));
  t.same(packed.map((p) => p.name), ['confd-haproxy'], 'one tarball: confd-haproxy');
  const cli = packed[0];
  if (!cli) return;
  t.equal(cli.tarball, join(dir, 'tarballs', `confd-haproxy-${VERSION}.tgz`), 'named confd-haproxy-<version>.tgz');
  t.ok(BINS.every((b) => cli.files.includes(`bin/${b}.js`)), 'every command is in bin/');
  t.ok(cli.files.includes('lib/render-worker.js'), 'the render worker is beside the chunks that start it');
  t.ok(['share/conf.d/haproxy.toml', 'share/templates/haproxy.cfg.hbs', 'share/systemd/confd-haproxy.service'].every((f) => cli.files.includes(f)), 'it ships the resource, the templates and the units');
  t.ok(cli.files.includes('README.md') && cli.files.includes('LICENSE'), 'README and LICENSE are packed');
  t.ok(cli.files.includes('THIRD-PARTY-NOTICES.md'), 'and the licenses of the libraries bundled in');
  t.notOk(cli.files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('dist/') || f.endsWith('.tsbuildinfo') || f.endsWith('.ts')), 'no sources, tests, workspace builds or build state');
  t.same([...cli.bundled].sort(), ['cockatiel', 'etcd3'], 'the libraries loaded by name at run time (etcd3 with gRPC inside, and the fault policies given to it) are bundled dependencies');

  // No registry to reach (a loopback port nobody listens on) and an empty cache: only the tarball's own bytes.
  const registry = `http://127.0.0.1:${await freePort()}/`;
  const sysroot = join(dir, 'root');
  const prefix = join(sysroot, 'usr/local');
  const install = npmGlobal(['install', cli.tarball], prefix, registry, dir);
  t.ok(install.ok, `npm install -g succeeds offline\n${install.stderr}`);
  if (!install.ok) return;
  const installed = join(prefix, 'lib/node_modules/confd-haproxy');
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; bundleDependencies?: string[] };
  t.same(Object.keys(manifest.dependencies ?? {}).filter((d) => !(manifest.bundleDependencies ?? []).includes(d)), [], 'it depends on nothing it does not bring');
  t.notOk(linksInto(installed, [join(root, 'packages'), join(root, 'node_modules')]), 'nothing in the install points back into the clone');

  for (const bin of BINS) {
    const path = join(prefix, 'bin', bin);
    t.ok(existsSync(path), `${bin} is in <prefix>/bin`);
    for (const flag of ['--version', '-version']) {
      const r = spawnSync(path, [flag], { encoding: 'utf8', timeout: 30_000, cwd: dir });
      t.equal(`${r.status} ${r.stdout.trim()}`, `0 ${VERSION}`, `${bin} ${flag} prints the package version`);
    }
    const help = spawnSync(path, ['--help'], { encoding: 'utf8', timeout: 30_000, cwd: dir });
    t.match(`${help.status} ${help.stdout}`, new RegExp(`^0 Usage: ${bin}`), `${bin} --help`);
  }
  // What loads only on demand (a command's program, execa, the metrics) is there too: every chunk imports.
  const chunks = readdirSync(join(installed, 'lib')).filter((f) => f.endsWith('.js') && f !== 'render-worker.js');
  const load = spawnSync(process.execPath, ['--input-type=module', '-e', `for (const f of ${JSON.stringify(chunks)}) await import(${JSON.stringify(`${join(installed, 'lib')}/`)} + f);`], { encoding: 'utf8', timeout: 60_000, cwd: dir });
  t.equal(load.status, 0, `every chunk in lib/ loads (${chunks.length})\n${load.stderr}`);

  // Bundled, a run still loads only what it needs: a bin alone is the `--version` fast path, and a
  // command's program leaves the metrics, execa and the clients other commands use to a later import.
  for (const bin of BINS) t.same(librariesLoadedWith(join(installed, 'bin', `${bin}.js`)), [], `${bin}: no library loads before the command is chosen`);
  // Handlebars loads only in the render worker, the YAML parser only for confd's YAML files.
  const lazy: [string, string[]][] = [['confd-haproxy', ['prom-client', 'execa', 'mysql2', 'etcd3', 'handlebars', 'yaml']], ['checkmemcached', ['prom-client', 'execa', 'mysql2', 'etcd3', 'handlebars', 'yaml']]];
  for (const [command, later] of lazy) {
    const program = readdirSync(join(installed, 'lib')).find((f) => f.startsWith(`${command}-`));
    t.ok(program, `${command}'s program is a chunk of its own in lib/`);
    if (program) t.same(librariesLoadedWith(join(installed, 'lib', program)).filter((l) => later.includes(l)), [], `${command} loads ${later.join(', ')} only when a run asks for them`);
  }

  await verifyUnits(t, installed, sysroot);

  // npm's prefix is /usr where Node comes from NodeSource's packages: the units start the bins there too.
  const usrRoot = join(dir, 'root-usr');
  const usrInstall = npmGlobal(['install', cli.tarball], join(usrRoot, 'usr'), registry, dir);
  t.ok(usrInstall.ok, `npm install -g with the prefix /usr succeeds\n${usrInstall.stderr}`);
  if (usrInstall.ok) await verifyUnits(t, join(usrRoot, 'usr/lib/node_modules/confd-haproxy'), usrRoot);

  // The documented setup: copy share/conf.d and share/templates, point dest somewhere writable.
  const etc = join(dir, 'etc');
  cpSync(join(installed, 'share/conf.d'), join(etc, 'conf.d'), { recursive: true });
  cpSync(join(installed, 'share/templates'), join(etc, 'templates'), { recursive: true });
  const toml = join(etc, 'conf.d/haproxy.toml');
  const dest = join(dir, 'out/haproxy.cfg');
  writeFileSync(toml, forTemp(readFileSync(toml, 'utf8'), dest));
  cpSync(join(root, 'examples/quickstart/kv.json'), join(dir, 'kv.json'));
  const env = { PATH: process.env.PATH ?? '' };
  const run = spawnSync(join(prefix, 'bin/confd-haproxy'), ['-onetime', '-backend', 'file', '-file', join(dir, 'kv.json'), '-confdir', etc, '-state-dir', join(dir, 'state')], { encoding: 'utf8', timeout: 60_000, env, cwd: dir });
  t.equal(run.status, 0, `a -onetime render of the quick start's data succeeds\n${run.stderr}`);
  t.match(readFileSync(dest, 'utf8'), /listen \S+/, 'haproxy.cfg has the listens of the quick-start data');
  if (existsSync(HAPROXY)) {
    const check = spawnSync(HAPROXY, ['-c', '-f', dest], { encoding: 'utf8', timeout: 30_000 });
    t.equal(check.status, 0, `haproxy -c accepts it\n${check.stdout}${check.stderr}`);
  }

  // A checker and the renderer from the install on real services: memcached probed, etcd (the bundled etcd3 and its gRPC) written and read.
  const [mem, etcd] = await Promise.all([startMemcached(), startEtcd()]);
  t.teardown(() => Promise.all([mem.stop(), etcd.stop()]));
  const check = spawnSync(join(prefix, 'bin/checkmemcached'), ['--server', `127.0.0.1:${mem.port}`, '--tag', 'meminstall', '--backend', 'etcd', '--node', etcd.endpoint, '--once', '--lock-dir', dir], { encoding: 'utf8', timeout: 60_000, env, cwd: dir });
  t.equal(check.status, 0, `checkmemcached --once writes the entry into etcd\n${check.stdout}${check.stderr}`);
  rmSync(dest, { force: true });
  const fromEtcd = spawnSync(join(prefix, 'bin/confd-haproxy'), ['-onetime', '-backend', 'etcd', '-node', etcd.endpoint, '-confdir', etc, '-state-dir', join(dir, 'state-etcd')], { encoding: 'utf8', timeout: 60_000, env, cwd: dir });
  t.equal(fromEtcd.status, 0, `a -onetime render from etcd succeeds\n${fromEtcd.stderr}`);
  t.match(existsSync(dest) ? readFileSync(dest, 'utf8') : '', new RegExp(`listen meminstall\\b[^]*server \\S+ 127\\.0\\.0\\.1:${mem.port}\\b`), 'haproxy.cfg sends the checked tag to the live memcached');

  // `npm uninstall -g confd-haproxy` leaves no file of ours behind, in either prefix (under /usr,
  // verifyUnits put the system's units and kill there, as a host has them).
  for (const p of [prefix, join(usrRoot, 'usr')]) {
    const un = npmGlobal(['uninstall', 'confd-haproxy'], p, registry, dir);
    t.ok(un.ok, `npm uninstall -g succeeds\n${un.stderr}`);
    const left = filesUnder(p).map((f) => relative(p, f)).filter((f) => !f.startsWith('lib/systemd/') && f !== 'bin/kill');
    t.same(left, [], `${relative(dir, p)}: no file left after uninstall`);
  }
});

/** `npm <install|uninstall> -g … --prefix prefix` with no registry to reach and a cache of its own. */
function npmGlobal(args: string[], prefix: string, registry: string, dir: string): { ok: boolean; stderr: string } {
  const r = spawnSync('npm', [...args, '-g', '--prefix', prefix, '--offline', `--registry=${registry}`, `--cache=${join(dir, 'npm-cache')}`, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  return { ok: r.status === 0, stderr: `${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

/** The libraries (by esbuild's `// node_modules/<name>/` markers) in file and every file it imports statically, transitively. */
function librariesLoadedWith(file: string, seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  const libs = [...text.matchAll(/^\/\/ node_modules\/((?:@[^/\n]+\/)?[^/\n]+)\//gm)].map((m) => m[1]!);
  for (const [, spec] of text.matchAll(/^import\s(?:[^;]*?\sfrom\s)?"(\.{1,2}\/[^"]+)"/gm)) libs.push(...librariesLoadedWith(join(dirname(file), spec!), seen));
  return [...new Set(libs)].sort();
}

/** Every file and link under dir (directories alone are npm's prefix layout, not ours). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = lstatSync(path);
    return st.isDirectory() ? filesUnder(path) : [path];
  });
}

/** The documented unit install (share/systemd → /etc/systemd/system), verified inside <root>: systemd finds each bare ExecStart name in <root>'s /usr/local/bin or /usr/bin. */
async function verifyUnits(t: Test, installed: string, sysroot: string): Promise<void> {
  if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
    t.comment('systemd-analyze is not installed: the units were not verified');
    return;
  }
  const units = readdirSync(join(installed, 'share/systemd')).filter((f) => /\.(service|timer)$/.test(f));
  cpSync(join(installed, 'share/systemd'), join(sysroot, 'etc/systemd/system'), { recursive: true });
  // The targets and services the units order themselves after, as this machine has them.
  cpSync('/usr/lib/systemd/system', join(sysroot, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  // ExecReload's /bin/kill, as a merged-/usr system has it.
  cpSync('/usr/bin/kill', join(sysroot, 'usr/bin/kill'));
  if (!existsSync(join(sysroot, 'bin'))) symlinkSync('usr/bin', join(sysroot, 'bin'));
  for (const unit of units) {
    const name = unit.replace(/@\./, '@test.');
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${sysroot}`, name], { encoding: 'utf8', timeout: 60_000 });
    t.same(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim()), [], `systemd-analyze verify ${name}: no complaint`);
    t.equal(r.status, 0, `systemd-analyze verify ${name} passes`);
  }
}

/** The shipped resource with dest in a temp dir and no reload: the check_cmd (haproxy -c) stays. */
function forTemp(toml: string, dest: string): string {
  return toml
    .replace(/^dest = .*$/m, `dest = ${JSON.stringify(dest)}`)
    .replace(/^(reload_cmd|runtime_socket) = .*$/gm, '')
    .replace(/^check_cmd = "\/usr\/sbin\/haproxy/m, existsSync(HAPROXY) ? 'check_cmd = "/usr/sbin/haproxy' : '#');
}

/** Does any symlink under dir resolve into the clone? */
function linksInto(dir: string, clone: string[]): boolean {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isSymbolicLink()) {
      if (clone.some((c) => realpathSync(path).startsWith(c))) return true;
    } else if (st.isDirectory() && linksInto(path, clone)) return true;
  }
  return false;
}
