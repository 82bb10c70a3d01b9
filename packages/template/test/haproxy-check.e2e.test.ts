// The shipped templates against real HAProxy 2.6: every shipped golden output passes `haproxy -c`
// without warnings, and the memcached check really moves traffic off a hung memcached.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTemplateEngine } from '@confd-haproxy/template/engine';
import { freePort, removeDir, startMemcached, startProcess, stopProcess, tempDir, waitForPort, type ServiceHandle } from '@confd-haproxy/testkit';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = join(root, 'test/fixtures/templates');
const templatesDir = join(root, 'templates');
const haproxy = '/usr/sbin/haproxy';

async function check(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(haproxy, ['-c', '-f', file], { timeout: 10_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const kvOf = (dir: string) =>
  Object.entries(JSON.parse(readFileSync(join(dir, 'kv.json'), 'utf8')) as Record<string, string>).map(([key, value]) => ({ key, value }));

t.ok(existsSync(haproxy), 'haproxy is installed (npm test installs it as root)');

const shipped = readdirSync(fixtures).filter((n) => n.startsWith('shipped-')).sort();
t.ok(shipped.length >= 4, 'the shipped-template cases are found');

for (const name of shipped) {
  t.test(`haproxy -c accepts the ${name} output without warnings`, async (t) => {
    const golden = await check(join(fixtures, name, 'expect/output'));
    t.equal(golden.code, 0, golden.output);
    t.match(golden.output, /Configuration file is valid/);
    t.notMatch(golden.output, /\[(WARNING|ALERT)\]/, 'no warnings or alerts');

    // The same data rendered now, with the stats socket in a temp dir as a deployment would set it
    // (a short one: HAProxy refuses socket paths over 97 bytes).
    const dir = tempDir('template-check');
    t.teardown(() => removeDir(dir));
    const socket = join(dir, 'admin.sock');
    const engine = createTemplateEngine({ templatesDir, env: { HAPROXY_STATS_SOCKET: socket } });
    const cfg = await engine.render('haproxy.cfg.hbs', kvOf(join(fixtures, name)));
    t.match(cfg, `stats socket ${socket} mode 600 level admin expose-fd listeners`);
    writeFileSync(join(dir, 'haproxy.cfg'), cfg);
    const fresh = await check(join(dir, 'haproxy.cfg'));
    t.equal(fresh.code, 0, fresh.output);
  });
}

t.test('the original layout (listen <name> <addr>) is what modern HAProxy refuses', async (t) => {
  const res = await check(join(fixtures, 'original-mysql/expect/output'));
  t.not(res.code, 0);
  t.match(res.output, /please use the 'bind' keyword/);
});

/** One memcached text-protocol exchange; resolves with the reply, or '' when nothing comes in time. */
function memcachedAsk(port: number, request: string, timeoutMs = 1000): Promise<string> {
  return new Promise((done) => {
    let reply = '';
    const s = connect({ host: '127.0.0.1', port });
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      done(reply);
    };
    const timer = setTimeout(finish, timeoutMs);
    s.on('data', (d) => {
      reply += d.toString();
      if (/(END|STORED|ERROR)\r\n$/.test(reply)) finish();
    });
    s.once('error', finish);
    s.once('close', finish);
    s.write(request);
  });
}

t.test('the shipped memcached listen moves traffic off a hung memcached to its backup', async (t) => {
  const started: ServiceHandle[] = [];
  const dir = tempDir('template-haproxy');
  let haproxyPid: number | undefined;
  t.teardown(async () => {
    if (haproxyPid) await stopProcess(haproxyPid);
    for (const m of started) await m.stop();
    removeDir(dir);
  });
  const active = await startMemcached();
  started.push(active);
  const backup = await startMemcached();
  started.push(backup);
  t.equal(await memcachedAsk(active.port, 'set who 0 0 6\r\nactive\r\n'), 'STORED\r\n');
  t.equal(await memcachedAsk(backup.port, 'set who 0 0 6\r\nbackup\r\n'), 'STORED\r\n');

  const proxyport = await freePort();
  const entry = {
    name: 'mem1',
    host: '127.0.0.1',
    port: active.port,
    proxyport,
    servers: [
      { host: '127.0.0.1', port: active.port, weight: 100, role: 'active' },
      { host: '127.0.0.1', port: backup.port, weight: 100, role: 'backup' },
    ],
    version: 1,
  };
  const engine = createTemplateEngine({ templatesDir, env: { HAPROXY_STATS_SOCKET: join(dir, 'admin.sock') } });
  // Only loopback in tests: the shipped bind 0.0.0.0 is narrowed to 127.0.0.1.
  const cfg = (await engine.render('haproxy.cfg.hbs', [{ key: '/haproxy/memcached/mem1', value: JSON.stringify(entry) }])).replace('bind 0.0.0.0:', 'bind 127.0.0.1:');
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  const child = startProcess(haproxy, ['-db', '-f', join(dir, 'haproxy.cfg')], { pkg: 'haproxy' });
  haproxyPid = child.pid!;
  await waitForPort(haproxyPid, '127.0.0.1', proxyport, { what: 'haproxy', timeoutMs: 10_000 });

  const get = () => memcachedAsk(proxyport, 'get who\r\n');
  const who = (reply: string) => /VALUE who 0 6\r\n(\w+)\r\nEND/.exec(reply)?.[1] ?? '';
  // Give the first health checks time to pass, then expect the active server.
  let first = '';
  for (let i = 0; i < 40 && first !== 'active'; i++) {
    first = who(await get());
    if (first !== 'active') await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(first, 'active', 'HAProxy routes to the active memcached');

  // A SIGSTOPped memcached still completes TCP handshakes: only the protocol check notices it.
  active.kill('SIGSTOP');
  const t0 = Date.now();
  let now = '';
  for (let i = 0; i < 30 && now !== 'backup'; i++) now = who(await get());
  t.equal(now, 'backup', `HAProxy routes to the backup once the active hangs (after ${Date.now() - t0} ms)`);
});
