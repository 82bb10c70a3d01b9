// What a user installs: every published package packed with `npm pack`, then
// `npm install -g confd-haproxy` into an empty prefix, as it would come from the registry after a
// publish. The @confd-haproxy scope is served from the packed tarballs by a minimal registry on
// loopback (the npm registry protocol: a packument per name, then the tarball); everything else
// comes from the npm registry (or npm's cache). Nothing resolves into this clone.
import t, { type Test } from 'tap';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { declaredDependencies, importedPackages, publishedPackages, type Workspace } from './workspaces.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BINS = ['confd-haproxy', 'checkmysqlslave', 'checkmemcached', 'checkgalera', 'checkredis', 'haproxy-reload'];
const HAPROXY = '/usr/sbin/haproxy';

interface Packed {
  ws: Workspace;
  tarball: string;
  files: string[];
}

/** scripts/pack.mjs: what a publish would upload, one tarball per published package. */
function packAll(dest: string): Packed[] {
  const out = execFileSync(process.execPath, [join(root, 'scripts/pack.mjs'), dest], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  const infos = JSON.parse(out) as { name: string; filename: string; files: { path: string }[] }[];
  return infos.map((info) => ({ ws: workspaces.find((w) => w.manifest.name === info.name)!, tarball: join(dest, info.filename), files: info.files.map((f) => f.path) }));
}

/** The npm registry protocol for the tarballs of one scope: GET /<name> → packument, GET /-/<file> → tarball. */
async function scopeRegistry(packed: Packed[]): Promise<{ url: string; server: Server; served: Set<string> }> {
  const served = new Set<string>();
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const byFile = packed.find((p) => path === `/-/${p.tarball.split('/').pop()}`);
    if (byFile) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(byFile.tarball));
      return;
    }
    const byName = packed.find((p) => path === `/${p.ws.manifest.name}`);
    if (!byName) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
      return;
    }
    served.add(byName.ws.manifest.name);
    const bytes = readFileSync(byName.tarball);
    const { name, version } = byName.ws.manifest;
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const dist = {
      tarball: `${base}/-/${byName.tarball.split('/').pop()}`,
      shasum: createHash('sha1').update(bytes).digest('hex'),
      integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name, 'dist-tags': { latest: version }, versions: { [version]: { ...byName.ws.manifest, _id: `${name}@${version}`, dist } } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server, served };
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
    t.equal(`${r.status} ${r.stdout.trim()}`, `0 ${JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')).version}`, `npx ${bin} --version`);
  }
});

t.test('installed from packed tarballs into an empty prefix, every command runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['tarballs', 'root/usr/local', 'etc', 'out']) mkdirSync(join(dir, sub), { recursive: true });
  const packed = packAll(join(dir, 'tarballs'));
  t.equal(packed.length, workspaces.length, 'every published package is packed');

  for (const p of packed) {
    t.ok(p.files.includes('dist/index.js') && p.files.includes('dist/index.d.ts'), `${p.ws.manifest.name}: compiled code and types are packed`);
    t.ok(p.files.includes('README.md') && p.files.includes('LICENSE'), `${p.ws.manifest.name}: README and LICENSE are packed`);
    t.notOk(p.files.some((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.tsbuildinfo')), `${p.ws.manifest.name}: no sources, tests or build state`);
  }
  const cli = packed.find((p) => p.ws.manifest.name === 'confd-haproxy');
  t.ok(cli, 'the user-facing package is confd-haproxy');
  if (!cli) return;
  t.ok(['share/conf.d/haproxy.toml', 'share/templates/haproxy.cfg.hbs', 'share/systemd/confd-haproxy.service'].every((f) => cli.files.includes(f)), 'it ships the resource, the templates and the units');

  const registry = await scopeRegistry(packed.filter((p) => p !== cli));
  t.teardown(() => registry.server.close());
  // The documented install, `npm install -g confd-haproxy`, into <root>/usr/local.
  const sysroot = join(dir, 'root');
  const prefix = join(sysroot, 'usr/local');
  const install = await npmInstallGlobal(prefix, cli.tarball, registry.url, dir);
  t.ok(install.ok, `npm install -g succeeds\n${install.stderr}`);
  if (!install.ok) return;
  t.same([...registry.served].sort(), packed.filter((p) => p !== cli).map((p) => p.ws.manifest.name).sort(), 'every scoped package was resolved through the registry of the tarballs (npm takes the bytes from its cache by integrity)');

  const installed = join(prefix, 'lib/node_modules/confd-haproxy');
  t.notOk(linksInto(installed, [join(root, 'packages'), join(root, 'node_modules')]), 'nothing in the install points back into the clone');

  for (const bin of BINS) {
    const path = join(prefix, 'bin', bin);
    t.ok(existsSync(path), `${bin} is in <prefix>/bin`);
    for (const flag of ['--version', '-version']) {
      const r = spawnSync(path, [flag], { encoding: 'utf8', timeout: 30_000 });
      t.equal(`${r.status} ${r.stdout.trim()}`, `0 ${cli.ws.manifest.version}`, `${bin} ${flag} prints the package version`);
    }
    const help = spawnSync(path, ['--help'], { encoding: 'utf8', timeout: 30_000 });
    t.match(`${help.status} ${help.stdout}`, new RegExp(`^0 Usage: ${bin}`), `${bin} --help`);
  }

  await verifyUnits(t, installed, sysroot);

  // npm's prefix is /usr where Node comes from NodeSource's packages: the units start the bins there too.
  const usrRoot = join(dir, 'root-usr');
  const usrInstall = await npmInstallGlobal(join(usrRoot, 'usr'), cli.tarball, registry.url, dir);
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
  const run = spawnSync(join(prefix, 'bin/confd-haproxy'), ['-onetime', '-backend', 'file', '-file', join(dir, 'kv.json'), '-confdir', etc, '-state-dir', join(dir, 'state')], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '' } });
  t.equal(run.status, 0, `a -onetime render of the shipped templates succeeds\n${run.stderr}`);
  t.match(readFileSync(dest, 'utf8'), /listen \S+/, 'haproxy.cfg has the listens of the quick-start data');
  if (existsSync(HAPROXY)) {
    const check = spawnSync(HAPROXY, ['-c', '-f', dest], { encoding: 'utf8', timeout: 30_000 });
    t.equal(check.status, 0, `haproxy -c accepts it\n${check.stdout}${check.stderr}`);
  }
});

/** `npm install -g <tarball>` into prefix, the scope served by the tarballs' registry. */
function npmInstallGlobal(prefix: string, tarball: string, registryUrl: string, cwd: string): Promise<{ ok: boolean; stderr: string }> {
  // Not spawnSync: the registry answers from this process's event loop.
  return promisify(execFile)('npm', ['install', '-g', '--prefix', prefix, tarball, `--@confd-haproxy:registry=${registryUrl}`, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', timeout: 300_000 }).then(
    () => ({ ok: true, stderr: '' }),
    (err: { stderr?: string; message: string }) => ({ ok: false, stderr: err.stderr ?? err.message }),
  );
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
