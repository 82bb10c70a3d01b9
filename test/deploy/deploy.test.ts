// What users deploy with: docker-compose.yml (no Docker engine runs here, so the file is checked,
// not run), the Dockerfile, and the systemd units (systemd-analyze verify where it exists).
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { parse } from 'yaml';
import { commandAllowed } from '@confd-haproxy/resource';
import { COMMANDS, commandMain } from 'confd-haproxy';
import { runInProcess } from '@confd-haproxy/testkit';
import { k8sDocs } from './k8s-docs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const OUR_BINS = COMMANDS;
/** Run one of our bins in this process; its exit code and what it wrote. */
const run = async (bin: string, argv: string[]) => runInProcess(await commandMain(bin), argv);
/** Each bin's --help, read once before the tests (in this process: spawning each bin cost seconds). */
const helpOf = new Map<string, string>(await Promise.all(OUR_BINS.map(async (bin) => [bin, (await run(bin, ['--help'])).out] as const)));
const help = (bin: string): string => helpOf.get(bin)!;
/** Every --flag of a command line of one of our bins must be one the bin knows. */
function unknownFlags(argv: string[]): string[] {
  const bin = argv[0]!.split('/').pop()!;
  if (!OUR_BINS.includes(bin)) return [];
  return argv.filter((a) => /^--?[a-z]/.test(a)).map((a) => `--${a.replace(/^--?/, '').split('=')[0]}`).filter((f) => !new RegExp(`${f}\\b`).test(help(bin)));
}

/** ExecStart's words, "double-quoted" ones whole (systemd's quoting). */
const execArgv = (line: string) => (line.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"(.*)"$/, '$1'));

/** The values of every `--flag value` in argv. */
const flagValues = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));

/** The port the Dockerfile's HEALTHCHECK asks /healthz on. */
const healthcheckPort = () => /HEALTHCHECK[\s\S]*?127\.0\.0\.1:(\d+)\/healthz/.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))![1]!;

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
    t.ok(s.image, `${name}: an image (a service built from the Dockerfile names the image it builds)`);
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
    if (s.build && s.command) t.same(flagValues(s.command, '--listen'), [`0.0.0.0:${healthcheckPort()}`], `${name}: serves the port the image's HEALTHCHECK asks, or Docker would mark it unhealthy`);
  }
  t.match(doc.services.haproxy!.command!.join(' '), /-W -db -S \/var\/run\/haproxy\/master\.sock/, 'HAProxy runs master-worker with a master CLI socket');
  t.match(readFileSync(join(root, 'deploy/compose/confd/conf.d/haproxy.toml'), 'utf8'), /reload_cmd = "haproxy-reload --master-socket \/var\/run\/haproxy\/master\.sock"/, 'the renderer reloads through that socket');
});

t.test('systemd units start the installed bins with real flags, hardened (verified in test/install)', async (t) => {
  const dir = join(root, 'deploy/systemd');
  const units = readdirSync(dir).filter((f) => /\.(service|timer)$/.test(f));
  t.ok(units.includes('confd-haproxy.service') && units.includes('checkmysqlslave@.service') && units.includes('checkmysqlslave-once@.timer'), 'the renderer, a template unit per checker tag, and timers');
  const settings = (text: string, key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
  for (const u of units.filter((f) => f.endsWith('.service'))) {
    const text = readFileSync(join(dir, u), 'utf8');
    for (const exec of settings(text, 'ExecStart')) {
      const [bin, ...args] = execArgv(exec);
      t.match(bin, /^[\w-]+$/, `${u}: starts a bin by name, found by systemd in /usr/local/bin or /usr/bin, wherever npm's prefix put it`);
      t.same(unknownFlags([bin!, ...args]), [], `${u}: real flags`);
    }
    t.same(settings(text, 'NoNewPrivileges'), ['yes'], `${u}: NoNewPrivileges`);
    t.same(settings(text, 'ProtectSystem'), ['strict'], `${u}: ProtectSystem=strict`);
    if (u.startsWith('check')) {
      t.same(settings(text, 'DynamicUser'), ['yes'], `${u}: a checker runs as an unprivileged dynamic user`);
      t.same(settings(text, 'CapabilityBoundingSet'), [''], `${u}: with no capabilities`);
      t.notOk(/^ReadWritePaths=/m.test(text), `${u}: and writes nowhere but its runtime directory`);
      t.ok(settings(text, 'LoadCredential').includes('consul-token:/etc/confd-haproxy/checker.token'), `${u}: its Consul token comes as a systemd credential (its user could not read a root-only file)`);
      t.same(settings(text, 'UnsetEnvironment'), ['CONSUL_HTTP_TOKEN_FILE'], `${u}: and no token file it could not read`);
      t.ok(settings(text, 'ExecStart').every((e) => e.includes(`--lock-dir /run/${settings(text, 'RuntimeDirectory')[0]}`)), `${u}: its lock dir is its RuntimeDirectory`);
    } else {
      t.same(settings(text, 'StateDirectory'), ['confd-haproxy'], `${u}: /var/lib/confd-haproxy is its state dir`);
      t.match(settings(text, 'ReadWritePaths')[0] ?? '', /\/etc\/haproxy\b/, `${u}: it writes only where haproxy.cfg lives`);
      t.ok(settings(text, 'ExecReload').length > 0, `${u}: systemctl reload re-reads its configuration`);
    }
  }
  t.match(readFileSync(join(root, 'conf.d/haproxy.toml'), 'utf8'), /^reload_cmd = "systemctl reload haproxy"$/m, 'the renderer reloads HAProxy through systemd');
});

const k8sDir = join(root, 'deploy/k8s');
const k8s = k8sDocs(root);
const byKind = (kind: string) => k8s.filter((d) => d.kind === kind);

t.test('deploy/k8s: every manifest has its kind, name and the fields its kind needs', async (t) => {
  t.ok(k8s.length >= 8, `${k8s.length} documents`);
  for (const d of k8s) {
    t.ok(d.apiVersion && d.kind && d.metadata?.name, `${d.kind}/${d.metadata?.name}: apiVersion, kind, metadata.name`);
    if (d.kind === 'Deployment' || d.kind === 'StatefulSet') {
      const labels = d.spec!.template!.metadata.labels;
      for (const [k, v] of Object.entries(d.spec!.selector!.matchLabels!)) t.equal(labels[k], v, `${d.metadata.name}: the selector matches the pod labels`);
      for (const c of d.spec!.template!.spec.containers) t.ok(c.name && c.image, `${d.metadata.name}/${c.name}: name and image`);
    }
  }
  const sts = byKind('StatefulSet').find((d) => d.metadata.name === 'haproxy');
  t.ok(sts, 'HAProxy runs as a StatefulSet (each pod keeps its instance identity)');
  const headless = byKind('Service').find((s) => s.metadata.name === sts?.spec?.serviceName);
  t.equal(headless?.spec?.clusterIP, 'None', 'its serviceName is a headless service');
  t.ok(sts?.spec?.volumeClaimTemplates?.some((v) => v.metadata.name === 'state'), 'the state dir is a persistent volume');
  const containers = sts!.spec!.template!.spec.containers;
  t.same(containers.map((c) => c.name).sort(), ['haproxy', 'renderer'], 'HAProxy with the renderer as a sidecar');
  const shared = (path: string) => containers.every((c) => c.volumeMounts?.some((m) => m.mountPath === path));
  t.ok(shared('/usr/local/etc/haproxy') && shared('/var/run/haproxy'), 'haproxy.cfg and the master CLI socket are on shared volumes');
  t.match(containers.find((c) => c.name === 'haproxy')!.command!.join(' '), /-W -db -S \/var\/run\/haproxy\/master\.sock/);
  t.ok(containers.find((c) => c.name === 'renderer')!.command!.includes('--config-from-store'), 'the renderer follows the bundle in the store');
  t.same(byKind('Deployment').map((d) => d.metadata.name).sort(), ['checkgalera', 'checkmemcached', 'checkmysqlslave', 'checkredis']);
  for (const d of byKind('Deployment')) t.ok((d.spec as { replicas?: number }).replicas! >= 2, `${d.metadata.name}: two replicas, the store lock picks the writer`);
});

t.test('deploy/k8s: commands use flags our bins have, and probes hit the --listen port', async (t) => {
  for (const d of [...byKind('Deployment'), ...byKind('StatefulSet')]) {
    for (const c of d.spec!.template!.spec.containers) {
      if (!c.command || !OUR_BINS.includes(c.command[0]!)) continue;
      t.same(unknownFlags(c.command), [], `${d.metadata.name}/${c.name}: real flags`);
      const listen = c.command[c.command.indexOf('--listen') + 1];
      t.ok(listen, `${d.metadata.name}/${c.name}: serves probes with --listen`);
      for (const probe of [c.livenessProbe, c.readinessProbe]) {
        const get = probe?.httpGet;
        t.ok(get, `${d.metadata.name}/${c.name}: liveness and readiness probes`);
        if (!get) continue;
        const port = typeof get.port === 'number' ? get.port : c.ports?.find((p) => p.name === get.port)?.containerPort;
        t.equal(String(port), listen!.split(':').pop(), `${d.metadata.name}/${c.name}: ${get.path} on the --listen port`);
      }
      t.equal(c.livenessProbe?.httpGet?.path, '/livez', `${d.metadata.name}/${c.name}: liveness restarts only a stuck process`);
      t.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    }
  }
});

const IMAGE = 'ghcr.io/confd-haproxy/confd-haproxy';
const version = (JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')) as { version: string }).version;
const pods = k8s.flatMap((d) => (d.spec?.template ? [{ name: d.metadata.name, spec: d.spec.template.spec }] : []));

t.test('one image name and tag: the Dockerfile documents it, compose and deploy/k8s use it', async (t) => {
  const tag = `${IMAGE}:${version}`;
  t.match(readFileSync(join(root, 'Dockerfile'), 'utf8'), new RegExp(`docker build -t ${tag.replaceAll('.', '\\.')} \\.`), 'the Dockerfile says how to build it');
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
  for (const [name, s] of Object.entries(compose.services).filter(([, s]) => s.build)) t.equal(s.image, tag, `compose ${name} builds and names it`);
  for (const { name, spec } of pods) {
    for (const c of [...(spec.initContainers ?? []), ...spec.containers].filter((c) => c.image.startsWith(IMAGE) || c.image.startsWith('confd-haproxy'))) t.equal(c.image, tag, `${name}/${c.name}`);
  }
});

t.test('deploy/k8s: no container runs as root, each has requests and limits', async (t) => {
  for (const { name, spec } of pods) {
    t.ok(spec.securityContext?.runAsNonRoot === true && (spec.securityContext.runAsUser ?? 0) > 0, `${name}: the pod runs as a non-root user`);
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      t.not(c.securityContext?.runAsUser, 0, `${name}/${c.name}: not UID 0`);
      t.equal(c.securityContext?.allowPrivilegeEscalation, false, `${name}/${c.name}: no privilege escalation`);
      t.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.cpu && c.resources.limits.memory, `${name}/${c.name}: cpu and memory requests and limits`);
    }
  }
});

t.test('deploy/k8s: every Secret it mounts or reads has a kubectl create secret example in the README', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const secrets = new Set(pods.flatMap(({ spec }) => [...(spec.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : [])), ...spec.containers.flatMap((c) => (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])))]));
  t.ok(secrets.size >= 4, [...secrets].join(', '));
  for (const name of secrets) t.match(readme, new RegExp(`kubectl create secret generic ${name}\\b`), `${name} is documented`);
  for (const { spec } of pods) {
    for (const c of spec.containers) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) t.match(readme, new RegExp(`kubectl create secret generic ${ref.name}\\b[^\\n]*--from-[a-z]+=${ref.key}\\b`), `${ref.name} has the key ${ref.key}`);
      }
    }
  }
});

t.test('deploy/k8s: the bootstrap ConfigMap is the shipped templates, up to date, and mounted whole', async (t) => {
  const gen = (await import(join(root, 'scripts/k8s-bootstrap.mjs'))) as { bootstrapConfigMap(): string; bootstrapFiles(): { key: string; path: string }[]; haproxyManifest(): string };
  t.equal(readFileSync(join(k8sDir, 'bootstrap-configmap.yaml'), 'utf8'), gen.bootstrapConfigMap(), 'up to date (node scripts/k8s-bootstrap.mjs rewrites it)');
  t.equal(readFileSync(join(k8sDir, 'haproxy.yaml'), 'utf8'), gen.haproxyManifest(), 'its items in haproxy.yaml up to date (node scripts/k8s-bootstrap.mjs rewrites them)');
  const cm = byKind('ConfigMap').find((d) => d.metadata.name === 'confd-haproxy-bootstrap')!;
  const volume = byKind('StatefulSet')[0]!.spec!.template!.spec.volumes!.find((v) => v.configMap?.name === cm.metadata.name)!;
  t.same(
    volume.configMap!.items!.map((i) => `${i.key} ${i.path}`).sort(),
    gen.bootstrapFiles().map((f) => `${f.key} ${f.path}`).sort(),
    'every file of the bundle is mounted at its path',
  );
  const dir = t.testdir({});
  for (const i of volume.configMap!.items!) {
    mkdirSync(dirname(join(dir, i.path)), { recursive: true });
    writeFileSync(join(dir, i.path), cm.data![i.key]!.replace('/usr/local/etc/haproxy/haproxy.cfg', join(dir, 'haproxy.cfg')));
  }
  const kv = join(dir, 'kv.json');
  writeFileSync(kv, JSON.stringify({ 'haproxy/memcached/mem11211': JSON.stringify({ name: 'mem11211', host: '10.0.0.7', port: 11211, proxyport: 16211 }) }));
  const r = await run('confd-haproxy', ['plan', '--backend', 'file', '--file', kv, '--confdir', dir, '--state-dir', join(dir, 'state')]);
  t.equal(r.code, 2, `the bootstrap bundle loads and renders: ${r.err}`);
  t.match(r.out, /\+listen mem11211/);
});

t.test('the shipped renderers allow exactly the commands and the file of the resource they ship with', async (t) => {
  const unit = readFileSync(join(root, 'deploy/systemd/confd-haproxy.service'), 'utf8');
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!;
  const sidecar = byKind('StatefulSet')[0]!.spec!.template!.spec.containers.find((c) => c.name === 'renderer')!.command!;
  for (const [what, argv, toml] of [
    ['systemd', execArgv(exec), 'conf.d/haproxy.toml'],
    ['k8s', sidecar, 'deploy/k8s/conf.d/haproxy.toml'],
  ] as const) {
    const r = (parseToml(readFileSync(join(root, toml), 'utf8')) as { template: Record<string, string> }).template;
    const allow = flagValues(argv, '--allow-command');
    t.ok(allow.length > 0, `${what}: passes --allow-command`);
    for (const cmd of [r.check_cmd!, r.reload_cmd!]) t.ok(commandAllowed(cmd, allow), `${what}: ${toml}'s ${JSON.stringify(cmd)} is allowed`);
    t.notOk(commandAllowed(`${r.reload_cmd}; touch /tmp/x`, allow), `${what}: nothing chained onto it is`);
    t.same(flagValues(argv, '--allow-dest'), [r.dest], `${what}: --allow-dest names ${r.dest}, and nothing else`);
  }
});

t.test('the shipped resource and its copies in deploy/ watch /haproxy/<kind> for every partial haproxy.cfg.hbs includes', async (t) => {
  const kinds = [...readFileSync(join(root, 'templates/haproxy.cfg.hbs'), 'utf8').matchAll(/\{\{>\s*([\w-]+)\s*\}\}/g)].map((m) => m[1]!);
  t.ok(kinds.length >= 4, kinds.join(', '));
  for (const toml of ['conf.d/haproxy.toml', 'deploy/k8s/conf.d/haproxy.toml', 'deploy/compose/confd/conf.d/haproxy.toml']) {
    const { keys } = (parseToml(readFileSync(join(root, toml), 'utf8')) as { template: { keys: string[] } }).template;
    t.same(kinds.filter((k) => !keys.includes(`/haproxy/${k}`)), [], `${toml}: keys has /haproxy/<kind> for each of ${kinds.join(', ')}`);
  }
});
