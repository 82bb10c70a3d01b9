// Every backend of a tag down is an alert, not silence: a real checkmemcached in front of two real
// memcached, both killed. The checker says so once, at error, naming each server and why it failed;
// /readyz and a per-tag gauge say the tag has no healthy server; --once prints each server's reason;
// a server back is told once, at info.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, killAndWait, sleep, startMemcached, until } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/checkmemcached.js');
const env = { PATH: process.env.PATH ?? '' };
const get = async (url: string) => {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: r.status, body: await r.text() };
};
type Line = { level: string; msg: string; outcome?: string; tag?: string };

t.test('a tag whose servers are all killed is told once at error, readiness and a gauge say it, and its recovery once', async (t) => {
  const [a, b] = await Promise.all([startMemcached(), startMemcached()]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const dir = t.testdir({});
  const port = await freePort();
  const servers = `127.0.0.1:${a.port},127.0.0.1:${b.port}`;
  const child = spawn(process.execPath, [bin, '--server', servers, '--tag', 'mem1', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--interval', '200ms', '--timeout', '300ms', '--log-format', 'json', '--listen', `127.0.0.1:${port}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => killAndWait(child));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  const base = `http://127.0.0.1:${port}`;
  t.ok(await until(async () => (await get(`${base}/readyz`).catch(() => ({ status: 0 }))).status === 200, 15_000), 'ready while a server serves');

  await Promise.all([a.stop(), b.stop()]);
  t.ok(await until(() => lines().some((l) => l.outcome === 'no-healthy-server'), 10_000), 'the checker tells it');
  const alert = lines().find((l) => l.outcome === 'no-healthy-server')!;
  t.equal(alert.level, 'error');
  t.equal(alert.tag, 'mem1');
  t.match(alert.msg, new RegExp(`^mem1: no healthy server: 127\\.0\\.0\\.1:${a.port} (connection refused|connection closed[^;]*|[^;]*(?:reset|RESET)[^;]*); 127\\.0\\.0\\.1:${b.port} (connection refused|connection closed[^;]*|[^;]*(?:reset|RESET)[^;]*)$`), 'naming each server and why it failed');
  const ready = await get(`${base}/readyz`);
  t.equal(ready.status, 503, '/readyz is not ready');
  t.match(ready.body, /no healthy server for mem1/);
  t.match((await get(`${base}/metrics`)).body, /confd_haproxy_checker_healthy_servers\{tag="mem1"\} 0/);
  // Ten more passes: still one alert.
  await sleep(2000);
  t.equal(lines().filter((l) => l.outcome === 'no-healthy-server').length, 1, 'told once per change of state, not per pass');

  // The server the entry does not point at comes back: the entry moves off a server dead for many passes.
  const active = [...lines()].reverse().find((l) => l.outcome === 'changed') as Line & { server: string };
  const [deadPort, backPort] = active.server.endsWith(`:${a.port}`) ? [a.port, b.port] : [b.port, a.port];
  const back = await startMemcached({ port: backPort });
  t.teardown(() => back.stop());
  t.ok(await until(() => lines().some((l) => l.outcome === 'healthy'), 10_000), 'the recovery is told');
  const recovery = lines().find((l) => l.outcome === 'healthy')!;
  t.equal(recovery.level, 'info');
  t.equal(recovery.msg, `mem1: healthy again: 127.0.0.1:${backPort}`);
  t.ok(await until(async () => (await get(`${base}/readyz`)).status === 200, 5000), 'ready again');
  // Only what was said after the outage was told.
  const since = () => lines().slice(lines().findIndex((l) => l.outcome === 'no-healthy-server'));
  t.ok(await until(() => since().some((l) => l.msg.includes(`→ active 127.0.0.1:${backPort}`)), 5000), 'the entry moves to it');
  t.match(since().find((l) => l.msg.includes(`→ active 127.0.0.1:${backPort}`))!.msg, new RegExp(`127\\.0\\.0\\.1:${deadPort} failed \\([^,]+, \\d+ in a row\\)`), 'a long outage is counted in a row, not as "21 of 1"');
});

t.test("--once with every server down prints each server's reason and exits 1", async (t) => {
  const dir = t.testdir({});
  const [p1, p2] = [await freePort(), await freePort()];
  const r = spawnSync(process.execPath, [bin, '--server', `127.0.0.1:${p1},127.0.0.1:${p2}`, '--tag', 'mem2', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--once'], { encoding: 'utf8', env, timeout: 30_000 });
  t.equal(r.status, 1);
  t.match(r.stdout + r.stderr, new RegExp(`mem2: no healthy server \\(127\\.0\\.0\\.1:${p1} [^;]*refused; 127\\.0\\.0\\.1:${p2} [^;]*refused\\)`));
  t.notMatch(r.stdout + r.stderr, /nothing to choose/);
});

t.test("a checker's SIGTERM line speaks of its probes and locks, not of a reload", async (t) => {
  const dir = t.testdir({});
  const child = spawn(process.execPath, [bin, '--server', `127.0.0.1:${await freePort()}`, '--tag', 'mem3', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--interval', '200ms'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => killAndWait(child));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  child.stderr.on('data', (c: Buffer) => (out += c));
  t.ok(await until(() => /no healthy server/.test(out), 10_000), 'running');
  child.kill('SIGTERM');
  await new Promise((done) => child.once('exit', done));
  t.match(out, /SIGTERM: stopping; probes under way end within --timeout/);
  t.notMatch(out, /reload/);
});
