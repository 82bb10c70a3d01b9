// The fleet from the command line: push, a renderer with --config-from-store as its own process,
// status --fleet with --json and --wait-converged, and a SIGKILLed instance leaving the fleet with
// its session. Over a real etcd (short TTLs); fleet.integration.test.ts in packages/fleet covers Consul too.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startEtcd, killAndWait } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const env = { PATH: process.env.PATH ?? '' };
const run = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((done) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 60_000 }, (err, out, errOut) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: errOut });
    });
  });
/** `status` reads a state dir: the test's own, never the machine's default. */
const statusDir = mkdtempSync(join(tmpdir(), 'confd-haproxy-status-'));
t.teardown(() => rmSync(statusDir, { recursive: true, force: true }));
const status = (args: string[]) => run(['status', '--state-dir', statusDir, ...args]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const etcd = await startEtcd();
t.teardown(() => etcd.stop());
const store = ['--backend', 'etcd', '--node', etcd.endpoint];

function confdir(dir: string, marker: string, template = `# ${marker}\n{{#each (gets "/haproxy/memcached/*")}}{{Key}}\n{{/each}}`) {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'conf.d/app.toml'), '[template]\nsrc = "app.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/memcached"]\n');
  writeFileSync(join(dir, 'templates/app.hbs'), template);
  return dir;
}

interface FleetJson {
  converged: boolean;
  bundle?: { version: number };
  rows: { id: string; version: number; state: string }[];
}
const fleet = async () => JSON.parse((await status(['--fleet', '--json', ...store])).out) as FleetJson;

t.test('push, an instance that adopts it, status --fleet, and a SIGKILLed instance leaving the fleet', async (t) => {
  const dir = t.testdir({});
  const src = confdir(join(dir, 'src'), 'v1');
  const pushed = await run(['push', '--confdir', src, '--state-dir', join(dir, 'pusher'), ...store]);
  t.equal(pushed.code, 0, pushed.err);
  t.match(pushed.out, /^pushed version 1 \([0-9a-f]{12}\), unsigned/);
  t.match(await run(['push', '--confdir', src, '--state-dir', join(dir, 'pusher'), ...store]), { code: 0, out: /unchanged: the store holds these files as version 1/ });
  const bad = confdir(join(dir, 'bad'), 'v-bad', '{{#if}}');
  const refused = await run(['push', '--confdir', bad, '--state-dir', join(dir, 'pusher'), ...store]);
  t.equal(refused.code, 65, 'a bundle that does not render is bad input');
  t.match(refused.err, /not pushed, it does not load or render/);

  const inst = confdir(join(dir, 'inst'), 'bootstrap');
  const child = spawn(process.execPath, [bin, '--config-from-store', '--confdir', inst, '--state-dir', join(dir, 'inst-state'), '--status-ttl', '2s', '--diffs-before-sync', '2', ...store], { env, stdio: 'ignore' });
  t.teardown(() => killAndWait(child));
  const waited = await status(['--fleet', '--wait-converged', '20s', ...store]);
  t.equal(waited.code, 0, waited.out + waited.err);
  t.match(waited.out, /bundle version 1 .*\n.*\n.* 1 +[0-9a-f]{12} +converged/);
  t.match(waited.out, /1 instance\(s\), converged/);
  t.equal(readFileSync(join(inst, 'app.cfg'), 'utf8').split('\n')[0], '# v1', 'the instance renders the pushed bundle next to its --confdir');
  const id = readFileSync(join(dir, 'inst-state/instance-id'), 'utf8').trim();
  t.match(await fleet(), { converged: true, bundle: { version: 1 }, rows: [{ id, version: 1, state: 'converged' }] }, 'status --fleet --json');

  child.kill('SIGKILL');
  const killed = Date.now();
  let rows = (await fleet()).rows.length;
  for (let i = 0; i < 100 && rows > 0; i++) {
    await sleep(200);
    rows = (await fleet()).rows.length;
  }
  t.equal(rows, 0, `the dead instance's status went with its lease (${Date.now() - killed} ms)`);
  const none = await status(['--fleet', '--wait-converged', '1s', ...store]);
  t.equal(none.code, 1, 'no instance is not a converged fleet');
  t.match(none.err, /did not converge within 1s/);
  t.match(none.out, /no instance publishes a status/);
  // Stopped before t.testdir's own teardown removes the directory it writes into.
  await killAndWait(child);
});

t.test('keygen, a signed push, and an instance with --trust-key that refuses an unsigned push and counts it', async (t) => {
  const dir = t.testdir({});
  const keys = await run(['keygen', '--out', join(dir, 'keys')]);
  t.equal(keys.code, 0, keys.err);
  t.match(keys.out, /wrote .*push\.key \(keep it secret\) and .*push\.pub \(key [0-9a-f]{12}\)/);
  const inst = confdir(join(dir, 'inst'), 'bootstrap');
  const port = await freePort();
  const flags = ['--config-from-store', '--confdir', inst, '--state-dir', join(dir, 'inst-state'), '--status-ttl', '2s', '--diffs-before-sync', '1', '--listen', `127.0.0.1:${port}`];
  const child = spawn(process.execPath, [bin, ...flags, '--trust-key', join(dir, 'keys/push.pub'), '--allow-dest', join(inst, 'app.cfg'), ...store], { env, stdio: 'ignore' });
  t.teardown(() => killAndWait(child));
  const metric = async (series: string) => {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
    return Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  };
  const until = async (cond: () => Promise<boolean>) => {
    for (let i = 0; i < 200 && !(await cond()); i++) await sleep(100);
    return cond();
  };

  const unsigned = await run(['push', '--confdir', confdir(join(dir, 'src'), 'v-unsigned'), '--state-dir', join(dir, 'pusher'), ...store]);
  t.equal(unsigned.code, 0, 'a store writer can publish an unsigned bundle');
  t.ok(await until(async () => (await metric('confd_haproxy_fleet_bundles_refused_total{reason="untrusted"}')) >= 1), 'the instance counts it as untrusted');
  const table = (await status(['--fleet', ...store])).out;
  t.match(table, /unsigned\n/, 'status shows the bundle unsigned');
  t.match(table, /failed +\S+ +refused: untrusted \(the bundle is not signed\); version \d+ not adopted, runs version/);
  t.equal(readFileSync(join(inst, 'app.cfg'), 'utf8').split('\n')[0], '# bootstrap', 'the instance keeps what it ran');

  const signed = await run(['push', '--sign-key', join(dir, 'keys/push.key'), '--confdir', confdir(join(dir, 'src'), 'v-signed'), '--state-dir', join(dir, 'pusher'), ...store]);
  t.equal(signed.code, 0, signed.err);
  t.match(signed.out, /^pushed version \d+ \([0-9a-f]{12}\), signed by key [0-9a-f]{12}/);
  const waited = await status(['--fleet', '--wait-converged', '20s', ...store]);
  t.equal(waited.code, 0, waited.out + waited.err);
  t.equal(readFileSync(join(inst, 'app.cfg'), 'utf8').split('\n')[0], '# v-signed');
  const version = Number(/^pushed version (\d+)/.exec(signed.out)?.[1]);
  t.ok(await until(async () => (await metric('confd_haproxy_fleet_bundle_version')) === version), `and reports version ${version} as the one it runs`);
  // Stopped before t.testdir's own teardown removes the directory it writes into.
  await killAndWait(child);
});
