// Catalog values are data: a service registered in Consul (by anyone holding a service:write token)
// cannot add words to haproxy.cfg, comment out a health check, or make HAProxy expand the
// renderer's environment. The bad instance is left out and named; every other one still renders,
// and real `haproxy -c` checks the result (the shipped services template, as the quick start).
// The registrations are the requests such a token makes (Consul keeps any string as an address);
// the double runs without ACLs here, what a token may register is the ACL role test's business.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsulDouble, type ConsulDouble } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = '6f1e2d3c-token-of-the-renderer-9a8b7c';
const HAPROXY = '/usr/sbin/haproxy';

/** The double loaded as `npm run quickstart:services` loads it: the checkers' entries and the example services. */
async function quickstartConsul(t: Test): Promise<{ double: ConsulDouble; put(path: string, body: unknown): Promise<void> }> {
  const double = await startConsulDouble({ recordRequests: false });
  t.teardown(() => double.close());
  const put = async (path: string, body: unknown) => {
    const res = await fetch(`${double.url}/v1${path}`, { method: 'PUT', body: typeof body === 'string' ? body : JSON.stringify(body) });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  };
  const kv = JSON.parse(readFileSync(join(root, 'examples/quickstart/kv.json'), 'utf8')) as Record<string, string>;
  for (const [key, value] of Object.entries(kv)) await put(`/kv/${key}`, value);
  for (const svc of JSON.parse(readFileSync(join(root, 'examples/quickstart-services/services.json'), 'utf8')) as unknown[]) await put('/agent/service/register', svc);
  return { double, put };
}

/** The example's resource with real `haproxy -c` as its check, writing into a temp dir; templates are the shipped ones unless given. */
function confdir(t: Test, template?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-catalog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['conf.d', 'out', 'state']) mkdirSync(join(dir, sub));
  if (template) {
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'templates/haproxy-services.cfg.hbs'), template);
  }
  const toml = readFileSync(join(root, 'examples/quickstart-services/conf.d/haproxy.toml'), 'utf8').replace(
    'dest = "../../out/haproxy-services.cfg"',
    `dest = "out/haproxy-services.cfg"\ncheck_cmd = "${HAPROXY} -c -f {{.src}}"`,
  );
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), toml);
  if (!template) symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  return dir;
}

// Asynchronous on purpose: the Consul double answers from this very process.
const confd = (dir: string, double: ConsulDouble, args: string[]) =>
  new Promise<{ code: number; log: string }>((done) => {
    const argv = [join(root, 'packages/cli/bin/confd-haproxy.js'), ...args, '--backend', 'consul', '--node', double.address, '--confdir', dir, '--state-dir', join(dir, 'state')];
    // The renderer's environment holds the token, as on a host that reads Consul with it.
    const env = { PATH: process.env.PATH ?? '', CONSUL_HTTP_TOKEN: SECRET, HAPROXY_STATS_SOCKET: join(dir, 'admin.sock') };
    execFile(process.execPath, argv, { encoding: 'utf8', env, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, log: `${stdout}\n${stderr}` });
    });
  });

const onetime = (dir: string, double: ConsulDouble) => confd(dir, double, ['--onetime', '--log-level', 'info']);
const cfgOf = (dir: string) => readFileSync(join(dir, 'out/haproxy-services.cfg'), 'utf8');
const serverLines = (cfg: string) => cfg.split('\n').filter((l) => /^\s+server\s/.test(l));

/** The example's own instances, each on its server line (web-3 is critical: disabled). */
function assertExampleRendered(t: Test, cfg: string): void {
  t.match(cfg, /server \S+_web-1 127\.0\.0\.1:8081 check weight 1\n/, 'web-1 still renders');
  t.match(cfg, /server \S+_web-2 127\.0\.0\.1:8082 check weight 1\n/, 'web-2 still renders');
  t.match(cfg, /server \S+_web-3 127\.0\.0\.1:8083 check weight 1 disabled\n/, 'web-3 still renders');
  t.match(cfg, /server \S+_api-1 127\.0\.0\.1:9091 check weight 1\n/, 'api-1 still renders');
  t.match(cfg, /^listen slave3301$/m, "the checkers' entries still render");
}

t.test('a service address cannot add words to its server line or comment out its check', async (t) => {
  const { double, put } = await quickstartConsul(t);
  await put('/agent/service/register', { Name: 'web', ID: 'web-evil', Address: '10.6.6.6:6666 weight 256 source 0.0.0.0 #', Port: 8084, Check: { TTL: '60s', Status: 'passing' } });
  const dir = confdir(t);
  const r = await onetime(dir, double);
  t.equal(r.code, 65, 'a refused instance is bad data, as a refused entry is');
  t.match(r.log, /haproxy-services\.cfg updated \(check_cmd passed\)/, 'haproxy -c accepted the render');
  const cfg = cfgOf(dir);
  t.notMatch(cfg, /source 0\.0\.0\.0/, 'no source address was injected');
  t.notMatch(cfg, /10\.6\.6\.6/, "the attacker's server is not rendered");
  t.same(serverLines(cfg).filter((l) => l.includes('#')), [], 'no server line holds a comment');
  assertExampleRendered(t, cfg);
  t.match(r.log, /service "web" instance "web-evil" on node "[^"]+": Address "10\.6\.6\.6:6666 weight 256 source 0\.0\.0\.0 #" is not an IP address or host name; leaving it out/);

  const status = await confd(dir, double, ['status']);
  t.match(status.log, /bad entries[^\n]*\n\s+conf\.d\/haproxy\.toml: service "web" instance "web-evil"[^\n]*Address[^\n]*\(left-out\)/, 'status shows the refused instance');
});

t.test('a service address cannot make HAProxy expand the environment', async (t) => {
  const { double, put } = await quickstartConsul(t);
  await put('/agent/service/register', { Name: 'api', ID: 'api-evil', Address: '127.0.0.1:9 "${CONSUL_HTTP_TOKEN}" #', Port: 9092, Check: { TTL: '60s', Status: 'passing' } });
  const dir = confdir(t);
  const r = await onetime(dir, double);
  t.notMatch(r.log, SECRET, 'the token is in no log line (haproxy -c never saw the variable)');
  const cfg = cfgOf(dir);
  t.notMatch(cfg, SECRET);
  t.notMatch(cfg, '${', 'no environment variable reaches haproxy.cfg');
  t.notMatch(cfg, /127\.0\.0\.1:9\b/, "the attacker's server is not rendered");
  t.same(serverLines(cfg).filter((l) => l.includes('#')), [], 'no server line holds a comment');
  assertExampleRendered(t, cfg);
  t.match(r.log, /service "api" instance "api-evil" on node "[^"]+": Address "127\.0\.0\.1:9 \\"\$\{CONSUL_HTTP_TOKEN\}\\" #" is not an IP address or host name/);
});

t.test("a node's address is checked like a service's", async (t) => {
  const { double, put } = await quickstartConsul(t);
  // An external node (catalog/register, node:write): its service has no address, so it takes the node's.
  await put('/catalog/register', {
    Node: 'evil-node',
    Address: '10.6.6.7:80 backup #',
    Service: { Service: 'web', ID: 'web-node', Port: 8085 },
    Check: { CheckID: 'web-node-alive', ServiceID: 'web-node', Status: 'passing' },
  });
  const dir = confdir(t);
  const r = await onetime(dir, double);
  t.match(r.log, /haproxy-services\.cfg updated \(check_cmd passed\)/);
  const cfg = cfgOf(dir);
  t.notMatch(cfg, /10\.6\.6\.7/);
  t.same(serverLines(cfg).filter((l) => l.includes('#')), []);
  assertExampleRendered(t, cfg);
  t.match(r.log, /service "web" instance "web-node" on node "evil-node": NodeAddress "10\.6\.6\.7:80 backup #" is not an IP address or host name/);
});

t.test('a Consul string a template prints as a word costs only its instance; one it does not print is harmless', async (t) => {
  const template = [
    'global',
    '    maxconn 100',
    'defaults',
    '    mode tcp',
    '    timeout connect 5s',
    '    timeout client 1m',
    '    timeout server 1m',
    'listen web',
    '    bind 127.0.0.1:18080',
    '{{#each (service "web")}}',
    '    server {{ID}} {{Address}}:{{Port}} check{{#if Meta.weight}} weight {{Meta.weight}}{{/if}}',
    '{{/each}}',
    '',
  ].join('\n');
  const { double, put } = await quickstartConsul(t);
  await put('/agent/service/register', { Name: 'web', ID: 'web-8', Address: '127.0.0.1', Port: 8088, Meta: { weight: '10', owner: 'team "blue" #ops' }, Check: { TTL: '60s', Status: 'passing' } });
  await put('/agent/service/register', { Name: 'web', ID: 'web-evil', Address: '127.0.0.1', Port: 8089, Meta: { weight: '1 source 0.0.0.0 #' }, Check: { TTL: '60s', Status: 'passing' } });
  const dir = confdir(t, template);
  const r = await onetime(dir, double);
  t.match(r.log, /haproxy-services\.cfg updated \(check_cmd passed\)/);
  const cfg = cfgOf(dir);
  t.match(cfg, /    server web-8 127\.0\.0\.1:8088 check weight 10\n/, 'an instance whose unprinted Meta holds spaces, quotes and "#" renders');
  t.notMatch(cfg, /source|web-evil/, 'the instance whose printed Meta holds words is left out');
  t.match(cfg, /    server web-1 127\.0\.0\.1:8081 check\n/, 'the example instance renders');
  t.same(serverLines(cfg).filter((l) => l.includes('#')), []);
  t.match(r.log, /haproxy-services\.cfg\.hbs:11:\d+: service "web" instance "web-evil" on node "[^"]+": Meta\["weight"\] "1 source 0\.0\.0\.0 #" holds whitespace or control characters and '#'/);
});
