// What users deploy with: docker-compose.yml (no Docker engine runs here, so the file is checked,
// not run), the Dockerfile, and the systemd units (systemd-analyze verify where it exists).
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const OUR_BINS = ['confd-haproxy', 'checkmysqlslave', 'checkmemcached', 'checkgalera', 'checkredis', 'haproxy-reload'];
const helpOf = new Map<string, string>();
function help(bin: string): string {
  if (!helpOf.has(bin)) helpOf.set(bin, execFileSync(process.execPath, [join(root, `packages/cli/dist/${bin}.js`), '--help'], { encoding: 'utf8' }));
  return helpOf.get(bin)!;
}
/** Every --flag of a command line of one of our bins must be one the bin knows. */
function unknownFlags(argv: string[]): string[] {
  const bin = argv[0]!.split('/').pop()!;
  if (!OUR_BINS.includes(bin)) return [];
  return argv.filter((a) => /^--?[a-z]/.test(a)).map((a) => `--${a.replace(/^--?/, '').split('=')[0]}`).filter((f) => !new RegExp(`${f}\\b`).test(help(bin)));
}

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  ports?: string[];
  depends_on?: string[];
  volumes?: string[];
}

t.test('docker-compose.yml: every service runs a real image or this Dockerfile with real flags', async (t) => {
  const doc = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const names = Object.keys(doc.services);
  t.ok(names.includes('consul') && doc.services.consul!.image!.startsWith('hashicorp/consul:'), 'the real hashicorp/consul image');
  t.ok(['mariadb-primary', 'mariadb-replica1', 'mariadb-replica2', 'memcached1', 'memcached2', 'haproxy', 'renderer', 'checkmysqlslave', 'checkmemcached'].every((n) => names.includes(n)), 'every part of the system is there');
  for (const [name, s] of Object.entries(doc.services)) {
    t.ok(Boolean(s.image) !== Boolean(s.build), `${name}: an image or a build, not both`);
    if (s.image) t.match(s.image, /^[a-z0-9/._-]+:[0-9][\w.-]*$/, `${name}: a pinned image tag`);
    if (s.build) t.ok(existsSync(join(root, s.build, 'Dockerfile')), `${name}: builds ${s.build}/Dockerfile`);
    for (const d of s.depends_on ?? []) t.ok(names.includes(d), `${name} depends on ${d}, a service of the file`);
    for (const p of s.ports ?? []) t.match(p, /^\d+:\d+$/, `${name}: port ${p} is host:container`);
    for (const v of s.volumes ?? []) {
      const src = v.split(':')[0]!;
      if (src.startsWith('./')) t.ok(existsSync(join(root, src)), `${name}: ${src} exists`);
      else t.ok(src in (doc.volumes ?? {}), `${name}: volume ${src} is declared`);
    }
    if (s.command) t.same(unknownFlags(s.command), [], `${name}: ${s.command[0]} knows every flag used`);
  }
  t.match(doc.services.haproxy!.command!.join(' '), /-W -db -S \/var\/run\/haproxy\/master\.sock/, 'HAProxy runs master-worker with a master CLI socket');
  t.match(readFileSync(join(root, 'deploy/compose/confd/conf.d/haproxy.toml'), 'utf8'), /reload_cmd = "haproxy-reload --master-socket \/var\/run\/haproxy\/master\.sock"/, 'the renderer reloads through that socket');
});

t.test('the Dockerfile copies only what exists and links every bin', async (t) => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  for (const m of text.matchAll(/^COPY (.+) (\S+)$/gm)) {
    for (const src of m[1]!.split(' ')) t.ok(existsSync(join(root, src)), `COPY ${src}`);
  }
  for (const b of OUR_BINS) t.match(text, new RegExp(`\\b${b}\\b`), `links ${b}`);
});

t.test('systemd units verify and use real flags', async (t) => {
  const dir = join(root, 'deploy/systemd');
  const units = readdirSync(dir).filter((f) => /\.(service|timer)$/.test(f));
  t.ok(units.includes('confd-haproxy.service') && units.includes('checkmysqlslave@.service') && units.includes('checkmysqlslave-once@.timer'), 'the renderer, a template unit per checker tag, and timers');
  const tmp = t.testdir({});
  for (const u of units) {
    const text = readFileSync(join(dir, u), 'utf8');
    for (const m of text.matchAll(/^ExecStart=(\S+)(.*)$/gm)) {
      t.same(unknownFlags([m[1]!, ...m[2]!.trim().split(/\s+/)]), [], `${u}: real flags`);
    }
    // Point ExecStart at this checkout's bins so verify can check they are executable.
    writeFileSync(join(tmp, u), text.replace(/\/usr\/local\/bin\/([\w-]+)/g, (_, b: string) => join(root, `packages/cli/dist/${b}.js`)).replace(/^EnvironmentFile=\/etc.*$/gm, ''));
  }
  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (analyze.status !== 0) {
    t.comment('systemd-analyze is not installed: only the flags were checked');
    return;
  }
  for (const u of units) {
    const arg = u.includes('@') ? join(tmp, u.replace('@', '@test')) : join(tmp, u);
    if (u.includes('@')) writeFileSync(arg, readFileSync(join(tmp, u)));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', arg], { encoding: 'utf8' });
    const problems = (r.stderr + r.stdout).split('\n').filter((l) => l.trim() && !/is not a symbolic link|Failed to (connect|open)|bus|timers\.target|multi-user\.target|network-online\.target|haproxy\.service/.test(l));
    t.same(problems, [], `systemd-analyze verify ${u}`);
  }
});
