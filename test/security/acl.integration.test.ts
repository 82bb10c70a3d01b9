// The README's least-privilege policies, one token per role, against the Consul double with ACLs
// on, each role beside the agent of its own host (renderers, the fleet instance and the pusher on
// the HAProxy host, each checker on its database's host): every role does its real job with its
// token, and nothing else — not another role's keys or bundle, not a recursive delete, not another
// node's sessions, not the catalog without the catalog rules, not a service registration. The
// checks go through the HTTP API and the stores only, so they hold on a real cluster as well.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulStore, type KVStore } from '@confd-haproxy/kv';
import { pushConfig, readFleet, runFleet, BUNDLE_KEY, ROLLOUT_KEY, STATUS_PREFIX } from '@confd-haproxy/fleet';
import { runOnce } from '@confd-haproxy/renderer';
import { type AclResource, type AclRule, quiet, startConsulDouble, startGaleraCluster, startMemcached, startRedis } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INSTANCE_ID = '6f1d2c3b-4a59-4e8f-9b7a-0c1d2e3f4a5b';

/** Each role and the node of the agent it talks to: the HAProxy host lb1, or its database's host. */
const HOSTS = {
  renderer: 'lb1',
  'renderer with services': 'lb1',
  'fleet instance': 'lb1',
  pusher: 'lb1',
  'checkmysqlslave for tag slave3301': 'mysql1',
  'checkmemcached for tag mem11211': 'mem1',
  'checkredis for tag redis6379': 'redis1',
  'checkgalera for cluster main': 'galera1',
  'Galera maintenance operator': 'galera1',
} as const;
type Role = keyof typeof HOSTS;
const ROLES = Object.keys(HOSTS) as Role[];
const CHECKERS = ROLES.filter((r) => r.startsWith('check'));

const RULE = /^(key|session|node|service)(_prefix)? "([^"]*)" \{ policy = "(read|write|deny)" \}$/;

/** The README's ```hcl block of the ACL section: role (its comment's first words) → rules, and the lines that are neither. */
function readmePolicies(): { roles: Map<string, AclRule[]>; unread: string[] } {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Consul ACLs: least privilege'));
  const block = /```hcl\n([\s\S]*?)```/.exec(section)![1]!;
  const roles = new Map<string, AclRule[]>();
  const unread: string[] = [];
  let rules: AclRule[] = [];
  for (const line of block.split('\n')) {
    const comment = /^# (.+?)(?: \(|:|$)/.exec(line);
    const rule = RULE.exec(line);
    if (comment) roles.set(comment[1]!, (rules = []));
    else if (rule) rules.push({ resource: rule[1] as AclResource, prefix: rule[3]!, policy: rule[4] as AclRule['policy'], exact: !rule[2] });
    else if (line.trim()) unread.push(line);
  }
  return { roles, unread };
}

/** A role's rules with the README's placeholders filled in for its host. */
const rulesFor = (rules: AclRule[], role: Role): AclRule[] =>
  rules.map((r) => ({ ...r, prefix: r.prefix.replace('<instance-id>', INSTANCE_ID).replace('<agent-node>', HOSTS[role]) }));

const run = (bin: string, args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; out: string }>((done) =>
    execFile(process.execPath, [join(root, `packages/cli/bin/${bin}.js`), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` }),
    ),
  );

t.test('each role does its job with the README policy, and nothing else', async (t) => {
  const { roles: policies, unread } = readmePolicies();
  t.same([...policies.keys()].sort(), [...ROLES].sort(), 'the README gives a policy for every role');
  t.same(unread, [], 'and every line of it is a rule this test reads');
  const tokens = Object.fromEntries(ROLES.map((role, i) => [role, `token-${i}-${role.replace(/\W+/g, '-')}`])) as Record<Role, string>;
  const double = await startConsulDouble({ nodeName: 'lb1', acl: { masterToken: 'root', tokens: Object.fromEntries(ROLES.map((role) => [tokens[role], rulesFor(policies.get(role) ?? [], role)])) } });
  t.teardown(() => double.close());
  const agents: Record<string, string> = { lb1: double.address };
  for (const host of new Set(Object.values(HOSTS))) if (!agents[host]) agents[host] = (await double.addAgent(host)).address;
  const agentOf = (role: Role | 'admin' | 'anonymous') => agents[role === 'admin' || role === 'anonymous' ? 'lb1' : HOSTS[role]]!;
  const tokenOf = (role: Role | 'admin' | 'anonymous') => (role === 'admin' ? 'root' : role === 'anonymous' ? undefined : tokens[role]);
  const stores: KVStore[] = [];
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  const storeOf = (role: Role | 'admin') => {
    const s = createConsulStore({ address: agentOf(role), token: tokenOf(role)! });
    stores.push(s);
    return s;
  };
  /** Raw HTTP to the /v1 API of the role's agent, with the role's token ("anonymous": none). */
  const api = (role: Role | 'admin' | 'anonymous', path: string, init: { method?: string; body?: unknown } = {}) => {
    const token = tokenOf(role);
    return fetch(`http://${agentOf(role)}/v1${path}`, {
      method: init.method ?? 'GET',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      headers: token ? { 'X-Consul-Token': token } : {},
    });
  };
  const OTHERS = (...mine: Role[]) => [...ROLES.filter((r) => !mine.includes(r)), 'anonymous' as const];
  const checkerArgs = (role: Role, dir: string) => ['--consul', agentOf(role), '--token', tokens[role], '--once', '--lock-dir', dir];
  const admin = storeOf('admin');
  // Short paths: HAProxy refuses a stats socket path above 97 characters.
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-test-acl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['conf.d', 'out', 'locks', 'state', 'svc/conf.d', 'svc/out']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'state/instance-id'), `${INSTANCE_ID}\n`);
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  symlinkSync(join(root, 'templates'), join(dir, 'svc/templates'));
  const keys = 'keys = ["/haproxy/mysqlslave", "/haproxy/memcached", "/haproxy/redis", "/haproxy/galera"]';
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\n${keys}\ncheck_cmd = "/usr/sbin/haproxy -c -f {{.src}}"\n`);
  writeFileSync(join(dir, 'svc/conf.d/haproxy.toml'), `[template]\nsrc = "haproxy-services.cfg.hbs"\ndest = "out/haproxy.cfg"\n${keys}\nservices = ["web", "api"]\ncheck_cmd = "/usr/sbin/haproxy -c -f {{.src}}"\n`);
  const renderEnv = { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: join(dir, 'a.sock') };

  await t.test('the checkers write their entries through their locks, each beside its own agent', async (t) => {
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
    const operator = ['--config', join(dir, 'galera.toml'), '--cluster', 'main', '--consul', agentOf('Galera maintenance operator'), '--token', tokens['Galera maintenance operator']];
    const node = JSON.parse((await admin.get('haproxy/galera/main'))!.value) as { host: string; port: number };
    const maint = await run('checkgalera', [...operator, '--maint', `${node.host}:${node.port}`]);
    t.equal(maint.code, 0, maint.out);
    t.ok(await admin.get(`haproxy/.maint/galera/main/${node.host}:${node.port}`), 'the maintenance key is written');
    const galera = storeOf('checkgalera for cluster main');
    t.same((await galera.list('haproxy/.maint/galera/main/')).pairs.map((p) => p.key), [`haproxy/.maint/galera/main/${node.host}:${node.port}`], "checkgalera's token reads it");
    t.equal((await run('checkgalera', [...operator, '--unmaint', `${node.host}:${node.port}`])).code, 0);
    t.equal(await admin.get(`haproxy/.maint/galera/main/${node.host}:${node.port}`), undefined, 'and it is gone again');
  });

  await t.test('the renderer renders every entry with a read-only token', async (t) => {
    const pass = await runOnce({ store: storeOf('renderer'), confdir: dir, logger: quiet, signal: new AbortController().signal, env: renderEnv });
    t.ok(pass.ok, pass.errors.map((e) => e.message).join('; '));
    const cfg = readFileSync(join(dir, 'out/haproxy.cfg'), 'utf8');
    for (const name of ['mem11211', 'redis6379', 'slave3301', 'main']) t.match(cfg, name, `renders ${name}`);
  });

  await t.test('the renderer with services renders every instance; without the catalog rules a renderer sees none', async (t) => {
    const register = (role: Role | 'admin', body: Record<string, unknown>) => api(role, '/agent/service/register', { method: 'PUT', body });
    t.equal((await register('admin', { Name: 'web', ID: 'web-1', Address: '127.0.0.1', Port: 8081, Check: { TTL: '60s', Status: 'passing' } })).status, 200);
    t.equal((await register('admin', { Name: 'api', ID: 'api-1', Address: '127.0.0.1', Port: 9091, Check: { TTL: '60s', Status: 'passing' } })).status, 200);
    // An instance on another host's agent: the renderer needs node read on that node too.
    const onMem = await fetch(`http://${agents.mem1}/v1/agent/service/register`, { method: 'PUT', headers: { 'X-Consul-Token': 'root' }, body: JSON.stringify({ Name: 'web', ID: 'web-2', Address: '127.0.0.2', Port: 8082, Check: { TTL: '60s', Status: 'passing' } }) });
    t.equal(onMem.status, 200);
    const pass = await runOnce({ store: storeOf('renderer with services'), confdir: join(dir, 'svc'), logger: quiet, signal: new AbortController().signal, env: renderEnv });
    t.ok(pass.ok, pass.errors.map((e) => e.message).join('; '));
    const cfg = readFileSync(join(dir, 'svc/out/haproxy.cfg'), 'utf8');
    for (const server of ['127.0.0.1:8081', '127.0.0.2:8082', '127.0.0.1:9091', 'listen mem11211']) t.match(cfg, server, `renders ${server}`);
    for (const role of [...OTHERS('renderer with services')]) {
      const health = await api(role, '/health/service/web');
      t.same(await health.json(), [], `${role}: the health of web reads as no instance`);
      t.same(await (await api(role, '/catalog/services')).json(), {}, `${role}: the services list reads as empty`);
    }
  });

  await t.test('the pusher publishes a bundle, and a fleet instance adopts it and publishes its own status, which no one else can end', async (t) => {
    const ac = new AbortController();
    const fleetDir = join(dir, 'fleet');
    mkdirSync(join(fleetDir, 'out'), { recursive: true });
    const running = runFleet({ store: storeOf('fleet instance'), confdir: fleetDir, stateDir: join(dir, 'state'), logger: quiet, signal: ac.signal, env: renderEnv, policy: { allowCommands: [], allowDests: [], allowEnv: ['HAPROXY_STATS_SOCKET'] }, diffsBeforeSync: 1, checkIntervalMs: 50, statusTtlMs: 10_000 });
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
    const status = await admin.get(`${STATUS_PREFIX}${INSTANCE_ID}`);
    const statusSession = status?.session ?? '';
    t.ok(statusSession, 'the status is held by a session');
    t.match(await (await api('admin', `/session/info/${statusSession}`)).json(), [{ Node: 'lb1' }], "on the node of the instance's agent");
    for (const role of OTHERS('fleet instance')) {
      const listed = (await (await api(role, '/session/list')).json()) as { ID: string }[];
      t.notOk(listed.some((s) => s.ID === statusSession), `${role}: does not see the status session`);
      t.equal((await api(role, `/session/destroy/${statusSession}`, { method: 'PUT' })).status, 403, `${role}: cannot destroy it`);
      t.equal((await api(role, `/session/renew/${statusSession}`, { method: 'PUT' })).status, 403, `${role}: cannot renew it`);
    }
    t.ok(await admin.get(`${STATUS_PREFIX}${INSTANCE_ID}`), 'the status is still there');
  });

  await t.test("a checker's lock session is its own: no other role can end it", async (t) => {
    const checker: Role = 'checkmemcached for tag mem11211';
    const lock = await storeOf(checker).acquireLock('haproxy/.locks/memcached/mem11211', { holder: 'acl-test', ttlMs: 15_000, lockDelayMs: 0 });
    t.ok(lock, 'the checker takes its lock as it does each round');
    t.teardown(() => lock?.release());
    t.match(await (await api('admin', `/session/info/${lock!.session}`)).json(), [{ Node: 'mem1' }], "on the node of the checker's agent");
    for (const role of OTHERS(checker)) {
      const listed = (await (await api(role, '/session/list')).json()) as { ID: string }[];
      t.notOk(listed.some((s) => s.ID === lock!.session), `${role}: does not see it`);
      t.equal((await api(role, `/session/destroy/${lock!.session}`, { method: 'PUT' })).status, 403, `${role}: cannot destroy it`);
      t.equal((await api(role, `/session/renew/${lock!.session}`, { method: 'PUT' })).status, 403, `${role}: cannot renew it`);
    }
    t.equal(await lock!.renew(), true, 'the checker still holds its lock');
    for (const role of CHECKERS.filter((r) => r !== checker)) {
      t.equal((await api(role, '/session/create', { method: 'PUT', body: { Node: 'mem1' } })).status, 403, `${role}: cannot create a session on mem1`);
    }
    for (const role of ['renderer', 'renderer with services', 'pusher', 'Galera maintenance operator', 'anonymous'] as const) {
      t.equal((await api(role, '/session/create', { method: 'PUT', body: {} })).status, 403, `${role}: creates no session at all`);
    }
  });

  await t.test('no role deletes recursively, not even under its own key', async (t) => {
    // Another checker's tag that starts with mem11211's: a recursive delete of haproxy/memcached/mem11211 would take it.
    await admin.put('haproxy/memcached/mem112110', '{"name":"mem112110"}');
    const before = (await admin.list('haproxy/')).pairs.map((p) => p.key);
    for (const role of [...ROLES, 'anonymous' as const]) {
      for (const prefix of ['', 'haproxy/', 'haproxy/memcached/', 'haproxy/.status/', 'haproxy/.locks/']) {
        t.equal((await api(role, `/kv/${prefix}?recurse`, { method: 'DELETE' })).status, 403, `${role}: cannot delete "${prefix}" recursively`);
      }
    }
    for (const role of CHECKERS) {
      const own = (policies.get(role) ?? []).find((r) => r.resource === 'key' && r.exact && !r.prefix.includes('.locks'))!.prefix;
      t.equal((await api(role, `/kv/${own}?recurse`, { method: 'DELETE' })).status, 403, `${role}: cannot delete every key that starts with "${own}"`);
    }
    t.same((await admin.list('haproxy/')).pairs.map((p) => p.key), before, 'every key is still there');
  });

  await t.test('no role registers, changes or removes a service', async (t) => {
    for (const role of [...ROLES, 'anonymous' as const]) {
      const mine = await api(role, '/agent/service/register', { method: 'PUT', body: { Name: 'mysql', ID: 'rogue', Address: '10.6.6.6', Port: 3306 } });
      t.equal(mine.status, 403, `${role}: cannot register a service with its agent`);
      const takeover = await api(role, '/catalog/register', { method: 'PUT', body: { Node: 'lb1', Address: '127.0.0.1', SkipNodeUpdate: true, Service: { Service: 'web', ID: 'web-1', Address: '10.6.6.6', Port: 80 } } });
      t.equal(takeover.status, 403, `${role}: cannot re-point web-1 through the catalog`);
      t.equal((await api(role, '/catalog/deregister', { method: 'PUT', body: { Node: 'lb1', ServiceID: 'web-1' } })).status, 403, `${role}: cannot remove it`);
      if (HOSTS[role as Role] === 'lb1' || role === 'anonymous') {
        t.equal((await api(role, '/agent/check/fail/service:web-1', { method: 'PUT' })).status, 403, `${role}: cannot fail its check`);
      }
    }
    const web = (await (await api('admin', '/health/service/web')).json()) as { Service: { ID: string; Address: string } }[];
    t.same(web.map((e) => `${e.Service.ID} ${e.Service.Address}`).sort(), ['web-1 127.0.0.1', 'web-2 127.0.0.2'], 'web is as registered');
    t.notOk(((await (await api('admin', '/catalog/services')).json()) as Record<string, unknown>).mysql, 'and there is no rogue service');
  });

  await t.test('nobody but the pusher may write the bundle or the rollout record, and nobody writes what is not theirs', async (t) => {
    const bundle = JSON.stringify({ version: 99, files: {} });
    for (const role of ROLES.filter((r) => r !== 'pusher')) {
      await t.rejects(storeOf(role).put(BUNDLE_KEY, bundle), { message: /permission denied/i }, `${role}: writing ${BUNDLE_KEY} is denied`);
      await t.rejects(storeOf(role).put(ROLLOUT_KEY, '{}'), { message: /permission denied/i }, `${role}: writing ${ROLLOUT_KEY} is denied`);
    }
    t.equal(await storeOf('pusher').put(ROLLOUT_KEY, '{}'), true, 'the pusher writes the rollout record');
    await t.rejects(storeOf('fleet instance').put(`${STATUS_PREFIX}00000000-0000-4000-8000-000000000000`, '{}'), { message: /permission denied/i }, "an instance cannot write another instance's status");
    await t.rejects(storeOf('checkmemcached for tag mem11211').put('haproxy/memcached/other', '{}'), { message: /permission denied/i }, "a checker cannot write another tag's entry");
    await t.rejects(storeOf('renderer').put('haproxy/memcached/mem11211', '{}'), { message: /permission denied/i }, 'the renderer cannot write an entry');
    await t.rejects(storeOf('Galera maintenance operator').put('haproxy/galera/main', '{}'), { message: /permission denied/i }, 'the operator cannot write the entry itself');
    t.match(JSON.parse((await admin.get(BUNDLE_KEY))!.value), { version: 1 }, 'the bundle is the pushed one');
  });
});
