// A Consul token given on the command line travels only in the X-Consul-Token header: it is in no
// request URL, no log line (text or JSON, debug included, errors included) and no child's argv.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsulDouble, startMemcached } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'b7e3c1d2-5f60-4a1b-9c8d-e0f1a2b3c4d5';
const stateDir = mkdtempSync(join(tmpdir(), 'confd-haproxy-token-state-'));
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
// Asynchronous on purpose: the Consul double answers from this very process.
const run = (bin: string, args: string[]) =>
  new Promise<{ code: number | null; all: string }>((done) => {
    execFile(process.execPath, [join(root, `packages/cli/bin/${bin}.js`), ...args, ...(bin === 'confd-haproxy' ? ['--state-dir', stateDir] : [])], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, all: `${stdout}\n${stderr}` });
    });
  });

t.test('the token never reaches a URL, a log line or a child process argv', async (t) => {
  // The checker's lock takes a session on the agent's node.
  const double = await startConsulDouble({ acl: { tokens: { [TOKEN]: [{ prefix: 'haproxy/', policy: 'write' }, { resource: 'session', prefix: 'consul-double', exact: true, policy: 'write' }] } } });
  t.teardown(() => double.close());
  const mem = await startMemcached();
  t.teardown(() => mem.stop());
  const dir = t.testdir({ 'conf.d': {}, out: {} });
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  const argvFile = join(dir, 'check-argv');
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\ncheck_cmd = "tr '\\\\000' ' ' < /proc/$$/cmdline > ${argvFile}"\n`);
  const logs: string[] = [];
  for (const format of ['text', 'json']) {
    const c = await run('checkmemcached', ['--server', `127.0.0.1:${mem.port}`, '--tag', 'tok', '--consul', double.address, '--token', TOKEN, '--once', '--debug', '--log-format', format, '--lock-dir', dir]);
    t.equal(c.code, 0, `checkmemcached --log-format ${format} worked with the token`);
    logs.push(c.all);
    const r = await run('confd-haproxy', ['--onetime', '--backend', 'consul', '--node', double.address, '--auth-token', TOKEN, '--confdir', dir, '--log-level', 'debug', '--log-format', format]);
    t.equal(r.code, 0, `confd-haproxy --log-format ${format} worked with the token`);
    logs.push(r.all);
  }
  double.revokeToken(TOKEN);
  const denied = await run('confd-haproxy', ['--onetime', '--backend', 'consul', '--node', double.address, '--auth-token', TOKEN, '--confdir', dir, '--log-level', 'debug']);
  t.not(denied.code, 0, 'a revoked token fails the run');
  t.match(denied.all, /permission denied \(the ACL token is unknown or was revoked/);
  logs.push(denied.all);
  const lines = logs.join('\n').split('\n');
  t.ok(lines.length > 5, `${lines.length} log lines read`);
  t.same(lines.filter((l) => l.includes(TOKEN)), [], 'no log line holds the token');
  t.ok(double.requests.length > 5);
  t.same(double.requests.filter((r) => r.url.includes(TOKEN)).map((r) => r.url), [], 'no request URL holds the token');
  t.ok(double.requests.every((r) => r.headers['x-consul-token'] === TOKEN), 'every request carried it in the header');
  const argv = readFileSync(argvFile, 'utf8');
  t.match(argv, /^\/bin\/sh -c /, 'check_cmd ran');
  t.notMatch(argv, TOKEN, "check_cmd's argv does not hold the token");
});
