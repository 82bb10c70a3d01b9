// Canary rollouts on four real HAProxies, each with its own --config-from-store renderer process
// over one etcd: a push that passes `haproxy -c` but points the backend at a dead port is taken by
// the canary only, judged failed from HAProxy's own numbers and reverted there; a good push is
// promoted to all in waves; a pusher killed mid-rollout changes neither outcome (push --resume
// completes a good one). status --fleet shows each stage.
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, killAndWait, startEtcd, startHAProxy, tempDir, until, type HAProxyHandle } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const reloadBin = join(root, 'packages/cli/bin/haproxy-reload.js');
const RELOAD = `${process.execPath} ${reloadBin} --master-socket master.sock`;
const CHECK = '/usr/sbin/haproxy -c -f {{.src}}';

const work = tempDir('e2e-canary');
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const etcd = await startEtcd();
t.teardown(() => etcd.stop());
const store = ['--backend', 'etcd', '--node', etcd.endpoint];

const run = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((done) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 120_000 }, (err, out, errOut) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: errOut });
    });
  });

// The service behind every HAProxy; a push that points elsewhere points at a port nobody serves.
const backend: Server = createServer((s) => s.end('ok\n'));
const backendPort = await freePort();
await new Promise<void>((done) => backend.listen(backendPort, '127.0.0.1', done));
t.teardown(() => new Promise<void>((done) => backend.close(() => done())));
const deadPort = await freePort();

/** The bundle's files: one listen on a unix socket beside each HAProxy (its cwd), so every instance renders the same bytes. */
function writeConfdir(dir: string, serverPort: number, marker: string, checkPort?: number): string {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "haproxy.cfg"\nkeys = ["/haproxy/app"]\ncheck_cmd = ${JSON.stringify(CHECK)}\nreload_cmd = ${JSON.stringify(RELOAD)}\n`);
  writeFileSync(
    join(dir, 'templates/haproxy.cfg.hbs'),
    [
      `# ${marker}`,
      'global',
      '    stats socket unix@admin.sock mode 600 level admin',
      'defaults',
      '    mode tcp',
      '    timeout connect 1s',
      '    timeout client 5s',
      '    timeout server 5s',
      '    retries 0',
      'listen app',
      '    bind unix@app.sock',
      `    server s1 127.0.0.1:${serverPort} check inter 200 fall 2 rise 1${checkPort ? ` port ${checkPort}` : ''}`,
      '',
    ].join('\n'),
  );
  return dir;
}

interface Instance {
  dir: string;
  id: string;
  haproxy: HAProxyHandle;
  child: ChildProcess;
  cfg(): string;
}

const keys = join(work, 'keys');
const signed = ['--sign-key', join(keys, 'push.key')];
const keygen = await run(['keygen', '--out', keys]);
if (keygen.code !== 0) throw new Error(`keygen: ${keygen.err}`);

/** HAProxy on a bootstrap config, and its renderer as its own process (cwd: its dir, where master.sock leads to HAProxy's master CLI). */
async function startInstance(i: number): Promise<Instance> {
  const dir = join(work, `i${i}`);
  writeConfdir(dir, backendPort, 'bootstrap');
  const sock = join(dir, 'admin.sock');
  writeFileSync(join(dir, 'haproxy.cfg'), `global\n    stats socket ${sock} mode 600 level admin\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n`);
  const haproxy = await startHAProxy({ config: join(dir, 'haproxy.cfg'), cwd: dir });
  symlinkSync(haproxy.masterSocket, join(dir, 'master.sock'));
  const args = [
    '--config-from-store', '--confdir', dir, '--state-dir', join(dir, 'state'), '--status-ttl', '2s', '--diffs-before-sync', '2', '--log-level', 'warn',
    '--stats-socket', sock, '--instance-label', `ring=${i === 0 ? 'canary' : 'main'}`,
    '--trust-key', join(keys, 'push.pub'), '--allow-dest', join(dir, 'haproxy.cfg'), '--allow-command', CHECK, '--allow-command', RELOAD,
    ...store,
  ];
  const env = { PATH: process.env.PATH ?? '' };
  const child = spawn(process.execPath, [bin, ...args], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => t.comment(`i${i}: ${d.toString().trim()}`));
  t.teardown(() => killAndWait(child));
  t.teardown(() => haproxy.stop());
  await until(() => existsSync(join(dir, 'state/instance-id')), 10_000);
  const id = readFileSync(join(dir, 'state/instance-id'), 'utf8').trim();
  return { dir, id, haproxy, child, cfg: () => readFileSync(join(dir, 'haproxy.cfg'), 'utf8') };
}

const instances = await Promise.all([0, 1, 2, 3].map(startInstance));
const [canary, ...others] = instances as [Instance, ...Instance[]];

interface FleetJson {
  converged: boolean;
  bundle?: { version: number; checksum: string };
  rollout?: { stage: string; version: number; reason?: string };
  rows: { id: string; version: number; state: string; detail: string }[];
}
const fleet = async () => JSON.parse((await run(['status', '--state-dir', join(work, 'status'), '--fleet', '--json', ...store])).out) as FleetJson;
const rowOf = (v: FleetJson, i: Instance) => v.rows.find((r) => r.id === i.id);
/** The state of server s1 in HAProxy's own `show stat`. */
const serverState = async (i: Instance) => /^app,s1,(?:[^,]*,){15}([^,]*)/m.exec(await i.haproxy.runtimeCommand('show stat'))?.[1] ?? '';
/** Bundle versions an instance ever materialized (adopted or tried). */
const kept = (i: Instance) => (existsSync(join(i.dir, 'state/bundles')) ? readdirSync(join(i.dir, 'state/bundles')) : []);
const markerOf = (i: Instance) => i.cfg().split('\n')[0];

const spawnPush = (args: string[]) => {
  const child = spawn(process.execPath, [bin, 'push', ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  t.teardown(() => killAndWait(child));
  return { child, out: () => out, exited };
};

t.test('the first push reaches all four instances (no canary)', async (t) => {
  const src = writeConfdir(join(work, 'v-good'), backendPort, 'good-1');
  const pushed = await run(['push', '--confdir', src, '--state-dir', join(work, 'pusher'), ...signed, ...store]);
  t.equal(pushed.code, 0, pushed.err);
  const waited = await run(['status', '--state-dir', join(work, 'status'), '--fleet', '--wait-converged', '30s', ...store]);
  t.equal(waited.code, 0, waited.out + waited.err);
  for (const i of instances) t.equal(markerOf(i), '# good-1');
  t.ok(await until(async () => (await Promise.all(instances.map(serverState))).every((s) => s === 'UP'), 10_000), 'every HAProxy has its server UP');
});

t.test('a push to a dead port is taken by the canary only, judged failed from HAProxy, and reverted there', async (t) => {
  const src = writeConfdir(join(work, 'v-dead'), deadPort, 'dead-port');
  const push = spawnPush(['--confdir', src, '--state-dir', join(work, 'pusher'), '--canary', canary.id.slice(0, 8), '--judge', '8s', '--report-grace', '30s', ...signed, ...store]);
  // An 8 s window: each poll is a `status --fleet` process, which a loaded machine can take seconds to start.
  const judging = await until(async () => rowOf(await fleet(), canary)?.state === 'judging', 30_000);
  t.ok(judging, 'status --fleet shows the canary judging');
  t.equal(markerOf(canary), '# dead-port', 'the canary took the push');
  const during = await run(['status', '--state-dir', join(work, 'status'), '--fleet', ...store]);
  t.match(during.out, /rollout of version \d+: canary/);
  t.match(during.out, /judging +\S+ +canary: judging version/);
  t.match(during.out, /waiting +\S+ +waits for the canaries of version/, during.out);
  const code = await push.exited;
  t.equal(code, 1, `the push exits 1: the rollout failed\n${push.out()}`);
  t.match(push.out(), /failed: canary [0-9a-f]{8} \(.*\): .*backend app was UP and has no healthy server now/);
  t.ok(await until(() => markerOf(canary) === '# good-1', 15_000), 'the canary rendered its previous bundle again');
  t.ok(await until(async () => (await serverState(canary)) === 'UP', 10_000), "and its HAProxy's server is UP again");
  const after = await fleet();
  t.match(after.rollout, { stage: 'failed' });
  t.match(rowOf(after, canary), { state: 'failed', detail: /refused: judged failed .*reverted/ });
  for (const i of others) {
    t.equal(markerOf(i), '# good-1', 'another instance never took it');
    t.notOk(kept(i).some((k) => k.startsWith(`v${after.bundle!.version}-`)), 'nor even wrote it down');
    t.match(rowOf(after, i), { state: 'waiting', detail: /the rollout of version \d+ failed/ });
  }
  t.comment((await run(['status', '--state-dir', join(work, 'status'), '--fleet', ...store])).out);
});

t.test('a good push passes the canaries (by label) and is promoted wave by wave to all', async (t) => {
  const src = writeConfdir(join(work, 'v-good2'), backendPort, 'good-2');
  const pushed = await run(['push', '--confdir', src, '--state-dir', join(work, 'pusher'), '--canary', 'ring=canary', '--judge', '3s', '--waves', '50%,100%', '--report-grace', '30s', ...signed, ...store]);
  t.equal(pushed.code, 0, pushed.out + pushed.err);
  t.match(pushed.out, /canaries take it first\n.*wave 1, 3 instance\(s\) may take it\n.*promoted to every instance\n/);
  const waited = await run(['status', '--state-dir', join(work, 'status'), '--fleet', '--wait-converged', '20s', ...store]);
  t.equal(waited.code, 0, waited.out);
  for (const i of instances) t.equal(markerOf(i), '# good-2');
  t.match(waited.out, /rollout of version \d+: promoted/);
});

t.test('killing the pusher mid-rollout changes neither outcome', async (t) => {
  const bad = spawnPush(['--confdir', writeConfdir(join(work, 'v-dead2'), deadPort, 'dead-2'), '--state-dir', join(work, 'pusher'), '--canary', '1', '--judge', '4s', ...signed, ...store]);
  const first = (await fleet()).rows.map((r) => r.id).sort()[0]!;
  const canaryNow = instances.find((i) => i.id === first)!;
  t.ok(await until(async () => rowOf(await fleet(), canaryNow)?.state === 'judging', 30_000), 'the canary judges');
  await killAndWait(bad.child);
  t.ok(await until(async () => rowOf(await fleet(), canaryNow)?.state === 'failed', 20_000), 'the canary judged it failed without the pusher');
  t.ok(await until(() => markerOf(canaryNow) === '# good-2', 15_000), 'and reverted by itself');
  for (const i of instances.filter((x) => x !== canaryNow)) t.equal(markerOf(i), '# good-2', 'no other instance took it');

  const good = spawnPush(['--confdir', writeConfdir(join(work, 'v-good3'), backendPort, 'good-3'), '--state-dir', join(work, 'pusher'), '--canary', '1', '--judge', '3s', ...signed, ...store]);
  t.ok(await until(async () => rowOf(await fleet(), canaryNow)?.state === 'judging', 30_000), 'the canary judges the good push');
  await killAndWait(good.child);
  t.ok(await until(async () => /judged passed/.test(rowOf(await fleet(), canaryNow)?.detail ?? ''), 20_000), 'and passes it without the pusher');
  await new Promise((r) => setTimeout(r, 1000));
  for (const i of instances.filter((x) => x !== canaryNow)) t.equal(markerOf(i), '# good-2', 'nobody is promoted without a signed record');
  const resumed = await run(['push', '--resume', '--state-dir', join(work, 'pusher'), '--report-grace', '30s', ...signed, ...store]);
  t.equal(resumed.code, 0, resumed.out + resumed.err);
  t.match(resumed.out, /promoted to every instance/);
  const waited = await run(['status', '--state-dir', join(work, 'status'), '--fleet', '--wait-converged', '20s', ...store]);
  t.equal(waited.code, 0, waited.out);
  for (const i of instances) t.equal(markerOf(i), '# good-3');
});

/** One connection through an instance's listen: what came back ('' when HAProxy could not reach the server). */
const through = (i: Instance) =>
  new Promise<string>((done) => {
    const c = connect(join(i.dir, 'app.sock'));
    let got = '';
    c.on('data', (d) => (got += d.toString()));
    c.on('close', () => done(got));
    c.on('error', () => done(got));
    c.setTimeout(3000, () => c.destroy());
  });

t.test('a push whose health checks pass but whose traffic fails is judged failed by its error rate', async (t) => {
  const target = instances[1]!;
  t.equal(await through(target), 'ok\n', 'traffic flows before the push');
  // Checked on the live port, traffic sent to the dead one: HAProxy keeps the server UP.
  const src = writeConfdir(join(work, 'v-traffic'), deadPort, 'dead-traffic', backendPort);
  const push = spawnPush(['--confdir', src, '--state-dir', join(work, 'pusher'), '--canary', target.id, '--judge', '4s', '--report-grace', '30s', ...signed, ...store]);
  // Traffic runs from the push until its verdict, not only while a poll sees 'judging': on a
  // loaded machine one `status --fleet` can take longer than the whole window.
  let decided = false;
  const exited = push.exited.finally(() => (decided = true));
  const answers: string[] = [];
  const states = new Set<string>();
  const stopAt = Date.now() + 90_000;
  // Paced (five tries every 50 ms), so the bound on tries outlasts the time bound.
  while (!decided && Date.now() < stopAt && answers.length < 20_000) {
    answers.push(...(await Promise.all([0, 1, 2, 3, 4].map(() => through(target)))));
    if (markerOf(target) === '# dead-traffic') states.add(String(await serverState(target)));
    await sleep(50);
  }
  t.ok(answers.filter((a) => a === '').length >= 5, `traffic fails during the window (${answers.filter((a) => a === '').length} of ${answers.length} tries)`);
  // '' is a sample taken while HAProxy reloads into the new configuration (no stats yet).
  t.ok(states.has('UP') && !states.has('DOWN'), `while HAProxy says the server is UP (seen: ${[...states].map((x) => x || 'no answer').join(', ')})`);
  const code = await exited;
  t.equal(code, 1);
  t.match(push.out(), /failed: canary [0-9a-f]{8} \(.*\): .*errors per session rose from 0\.0% to 100\.0%/);
  t.ok(await until(async () => (await through(target)) === 'ok\n', 15_000), 'after the revert traffic flows again');
  for (const i of instances.filter((x) => x !== target)) t.equal(markerOf(i), '# good-3', 'no other instance took it');
});
