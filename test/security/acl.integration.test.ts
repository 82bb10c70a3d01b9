// The README's least-privilege policies, one token per role, against the Consul double with ACLs
// on: every role does its real job with its token (renderer, fleet instance, pusher, each checker,
// the Galera maintenance operator), and nobody but the pusher may write the bundle key. The double
// checks key and key_prefix rules; session_prefix is Consul's alone (the double needs none).
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulStore, type KVStore } from '@confd-haproxy/kv';
import { pushConfig, readFleet, runFleet, BUNDLE_KEY, STATUS_PREFIX } from '@confd-haproxy/fleet';
import { runOnce } from '@confd-haproxy/renderer';
import { startConsulDouble, startGaleraCluster, startMemcached, startRedis, type AclRule } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INSTANCE_ID = '6f1d2c3b-4a59-4e8f-9b7a-0c1d2e3f4a5b';

/** The README's ```hcl block of the ACL section: role (its comment's first words) → key rules. */
function readmePolicies(): Map<string, AclRule[]> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Consul ACLs: least privilege'));
  const block = /```hcl\n([\s\S]*?)```/.exec(section)![1]!;
  const roles = new Map<string, AclRule[]>();
  let rules: AclRule[] = [];
  for (const line of block.split('\n')) {
    const comment = /^# (.+?)(?: \(|:|$)/.exec(line);
    if (comment) roles.set(comment[1]!, (rules = []));
    const rule = /^(key|key_prefix) "([^"]*)" \{ policy = "(read|write|deny)" \}$/.exec(line);
    if (rule) rules.push({ prefix: rule[2]!.replace('<instance-id>', INSTANCE_ID), policy: rule[3] as AclRule['policy'], exact: rule[1] === 'key' });
  }
  return roles;
}

const run = (bin: string, args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; out: string }>((done) =>
    execFile(process.execPath, [join(root, `packages/cli/dist/${bin}.js`), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` }),
    ),
  );

t.test('each role does its job with the README policy, and only the pusher may write the bundle', async (t) => {
  const policies = readmePolicies();
  const ROLES = ['renderer', 'fleet instance', 'pusher', 'checkmysqlslave for tag slave3301', 'checkmemcached for tag mem11211', 'checkredis for tag redis6379', 'checkgalera for cluster main', 'Galera maintenance operator'];
  t.same([...policies.keys()].sort(), [...ROLES].sort(), 'the README gives a policy for every role');
  const tokens = Object.fromEntries(ROLES.map((role, i) => [role, `token-${i}-${role.replace(/\W+/g, '-')}`]));
  const double = await startConsulDouble({ acl: { masterToken: 'root', tokens: Object.fromEntries(ROLES.map((role) => [tokens[role]!, policies.get(role) ?? []])) } });
  t.teardown(() => double.close());
  const stores: KVStore[] = [];
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  const storeOf = (role: string) => {
    const s = createConsulStore({ address: double.address, token: role === 'admin' ? 'root' : tokens[role]! });
    stores.push(s);
    return s;
  };
  const checkerArgs = (role: string, dir: string) => ['--consul', double.address, '--token', tokens[role]!, '--once', '--lock-dir', dir];
  const admin = storeOf('admin');
  // Short paths: HAProxy refuses a stats socket path above 97 characters.
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-test-acl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['conf.d', 'out', 'locks', 'state']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'state/instance-id'), `${INSTANCE_ID}\n`);
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/mysqlslave", "/haproxy/memcached", "/haproxy/redis", "/haproxy/galera"]\ncheck_cmd = "/usr/sbin/haproxy -c -f {{.src}}"\n`);

  await t.test('the checkers write their entries through their locks', async (t) => {
    const [mem, redis, galera] = await Promise.all([startMemcached(), startRedis(), startGaleraCluster({ nodes: 1 })]);
    t.teardown(() => Promise.all([mem.stop(), redis.stop(), galera.stop()]));
    const db = galera.nodes[0]!;
    await db.query("CREATE USER 'probe'@'127.0.0.1' IDENTIFIED BY 'probepw'");
    const locks = join(dir, 'locks');
    writeFileSync(join(dir, 'db.conf'), `[slave3301]\nhost=127.0.0.1\nport=${db.port}\nuser=probe\npassword=probepw\nproxyport=13351\n`);
    writeFileSync(join(dir, 'galera.toml'), `[cluster.main]\nuser = "probe"\npassword = "probepw"\nwriterPort = 23306\n[[cluster.main.node]]\nhost = "127.0.0.1"\nport = ${db.port}\n`);
    const runs = await Promise.all([
      run('checkmemcached', ['--server', `127.0.0.1:${mem.port}`, '--tag', 'mem11211', ...checkerArgs('checkmemcached for tag mem11211', locks)]),
      run('checkredis', ['--server', `127.0.0.1:${redis.port}`, '--tag', 'redis6379', ...checkerArgs('checkredis for tag redis6379', locks)]),
      // A lone server is no replica: with the master fallback the entry points at it, and is written all the same.
      run('checkmysqlslave', ['--conf', join(dir, 'db.conf'), '--tag', 'slave3301', ...checkerArgs('checkmysqlslave for tag slave3301', locks)]),
      run('checkgalera', ['--config', join(dir, 'galera.toml'), ...checkerArgs('checkgalera for cluster main', locks)]),
    ]);
    for (const r of runs) t.notMatch(r.out, /permission denied|ACL/i, 'no permission problem');
    t.match(JSON.parse((await admin.get('haproxy/memcached/mem11211'))!.value), { name: 'mem11211', port: mem.port });
    t.match(JSON.parse((await admin.get('haproxy/redis/redis6379'))!.value), { name: 'redis6379', port: redis.port });
    t.match(JSON.parse((await admin.get('haproxy/mysqlslave/slave3301'))!.value), { name: 'slave3301', port: db.port });
    t.match(JSON.parse((await admin.get('haproxy/galera/main'))!.value), { name: 'main', port: db.port });
  });

  await t.test('the Galera maintenance operator puts a node in and out of maintenance, and checkgalera reads it', async (t) => {
    const operator = ['--config', join(dir, 'galera.toml'), '--cluster', 'main', '--consul', double.address, '--token', tokens['Galera maintenance operator']!];
    const node = JSON.parse((await admin.get('haproxy/galera/main'))!.value) as { host: string; port: number };
    const maint = await run('checkgalera', [...operator, '--maint', `${node.host}:${node.port}`]);
    t.equal(maint.code, 0, maint.out);
    t.ok(await admin.get(`haproxy/.maint/galera/main/${node.host}:${node.port}`), 'the maintenance key is written');
    const galera = storeOf('checkgalera for cluster main');
    t.same((await galera.list('haproxy/.maint/galera/main/')).pairs.map((p) => p.key), [`haproxy/.maint/galera/main/${node.host}:${node.port}`], 'checkgalera\'s token reads it');
    t.equal((await run('checkgalera', [...operator, '--unmaint', `${node.host}:${node.port}`])).code, 0);
    t.equal(await admin.get(`haproxy/.maint/galera/main/${node.host}:${node.port}`), undefined, 'and it is gone again');
  });

  await t.test('the renderer renders every entry with a read-only token', async (t) => {
    const pass = await runOnce({ store: storeOf('renderer'), confdir: dir, logger: quiet, signal: new AbortController().signal, env: { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: join(dir, 'a.sock') } });
    t.ok(pass.ok, pass.errors.map((e) => e.message).join('; '));
    const cfg = readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8');
    for (const name of ['mem11211', 'redis6379', 'slave3301', 'main']) t.match(cfg, name, `renders ${name}`);
  });

  await t.test('the pusher publishes a bundle, and a fleet instance adopts it and publishes its own status', async (t) => {
    const ac = new AbortController();
    const fleetDir = join(dir, 'fleet');
    mkdirSync(join(fleetDir, 'out'), { recursive: true });
    const running = runFleet({ store: storeOf('fleet instance'), confdir: fleetDir, stateDir: join(dir, 'state'), logger: quiet, signal: ac.signal, env: { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: join(dir, 'a.sock') }, policy: { allowCommands: [], allowDests: [], allowEnv: ['HAPROXY_STATS_SOCKET'] }, diffsBeforeSync: 1, checkIntervalMs: 50, statusTtlMs: 10_000 });
    t.teardown(async () => {
      ac.abort();
      await running;
    });
    const r = await pushConfig({ store: storeOf('pusher'), confdir: dir, stateDir: join(dir, 'pusher-state'), logger: quiet, signal: new AbortController().signal, env: { PATH: process.env.PATH } });
    t.match(r, { changed: true, bundle: { version: 1 } });
    let view = await readFleet(admin);
    for (let i = 0; i < 200 && !(view.converged && view.rows[0]?.version === 1); i++) {
      await sleep(100);
      view = await readFleet(admin);
    }
    t.match(view, { converged: true, rows: [{ id: INSTANCE_ID, version: 1 }] }, 'the instance adopted version 1 and says so under its own status key');
    t.match(readFileSync(join(fleetDir, 'out/haproxy.cfg'), 'utf8'), 'listen mem11211');
  });

  await t.test('nobody but the pusher may write the bundle, and nobody writes what is not theirs', async (t) => {
    const bundle = JSON.stringify({ version: 99, files: {} });
    for (const role of ROLES.filter((r) => r !== 'pusher')) {
      await t.rejects(storeOf(role).put(BUNDLE_KEY, bundle), { message: /permission denied/i }, `${role}: writing ${BUNDLE_KEY} is denied`);
    }
    await t.rejects(storeOf('fleet instance').put(`${STATUS_PREFIX}00000000-0000-4000-8000-000000000000`, '{}'), { message: /permission denied/i }, "an instance cannot write another instance's status");
    await t.rejects(storeOf('checkmemcached for tag mem11211').put('haproxy/memcached/other', '{}'), { message: /permission denied/i }, "a checker cannot write another tag's entry");
    await t.rejects(storeOf('renderer').put('haproxy/memcached/mem11211', '{}'), { message: /permission denied/i }, 'the renderer cannot write an entry');
    await t.rejects(storeOf('Galera maintenance operator').put('haproxy/galera/main', '{}'), { message: /permission denied/i }, 'the operator cannot write the entry itself');
    t.match(JSON.parse((await admin.get(BUNDLE_KEY))!.value), { version: 1 }, 'the bundle is the pushed one');
  });
});
