import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startMemcached, killAndWait } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = (name: string) => join(root, `packages/cli/bin/${name}.js`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = async (url: string) => {
  try {
    const r = await fetch(url);
    return { status: r.status, text: await r.text() };
  } catch {
    return { status: 0, text: '' };
  }
};
async function until(url: string, status: number, ms = 15_000) {
  const deadline = Date.now() + ms;
  let last = await get(url);
  while (last.status !== status && Date.now() < deadline) {
    await sleep(100);
    last = await get(url);
  }
  return last;
}

t.test('the renderer serves /healthz, /readyz and /metrics with --listen', async (t) => {
  const dir = t.testdir({ 'conf.d': {}, out: {}, 'kv.json': JSON.stringify({ 'haproxy/memcached/m': JSON.stringify({ name: 'm', host: '127.0.0.1', port: 11211, proxyport: 16211 }) }) });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\n`);
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  const port = await freePort();
  const p = spawn(process.execPath, [bin('confd-haproxy'), '--watch', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--listen', `127.0.0.1:${port}`, '--state-dir', join(dir, 'state')], { stdio: 'ignore', env: { PATH: process.env.PATH } });
  t.teardown(() => killAndWait(p));
  const ready = await until(`http://127.0.0.1:${port}/readyz`, 200);
  t.match(ready, { status: 200, text: /^ok: rendered from a fresh read/ });
  t.match(await get(`http://127.0.0.1:${port}/healthz`), { status: 200, text: /^ok: watching/ });
  const metrics = await get(`http://127.0.0.1:${port}/metrics`);
  t.match(metrics.text, /confd_haproxy_renders_total\{resource="conf\.d\/haproxy\.toml",outcome="changed"\} 1/);
  t.match(metrics.text, /confd_haproxy_passes_total\{result="ok"\} 1/);
  t.match(metrics.text, /confd_haproxy_last_success_timestamp_seconds \d/);
  // The metrics and the status file both hear of every pass: --listen takes nothing from `status`.
  const status = spawnSync(process.execPath, [bin('confd-haproxy'), 'status', '--json', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', join(dir, 'state')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(status.status, 0, 'status exits 0: dest is in sync');
  t.match(JSON.parse(status.stdout), [{ resource: 'conf.d/haproxy.toml', render: { outcome: 'changed', ok: true }, inSync: true }], 'the pass is in the status file too');
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  p.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops the watcher cleanly');
  // Stopped before t.testdir's own teardown removes the directory it writes into.
  await killAndWait(p);
});

t.test('/livez answers while the store is unreachable: an outage is for readiness, not for restarts', async (t) => {
  const dir = t.testdir({ 'conf.d': {}, out: {} });
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\n`);
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  const [port, deadStore] = [await freePort(), await freePort()];
  const p = spawn(process.execPath, [bin('confd-haproxy'), '--watch', '--backend', 'consul', '--node', `127.0.0.1:${deadStore}`, '--confdir', dir, '--listen', `127.0.0.1:${port}`, '--state-dir', join(dir, 'state')], { stdio: 'ignore', env: { PATH: process.env.PATH } });
  t.teardown(() => killAndWait(p));
  t.match(await until(`http://127.0.0.1:${port}/livez`, 200), { status: 200, text: /^ok: up \d+ s/ });
  t.match(await get(`http://127.0.0.1:${port}/readyz`), { status: 503, text: /^not ok: no successful render yet/ });
  t.match(await get(`http://127.0.0.1:${port}/livez`), { status: 200 }, 'still alive');
  // Stopped before t.testdir's own teardown removes the directory it writes into.
  await killAndWait(p);
});

t.test('a checker serves the active server per tag and probe results', async (t) => {
  const mem = await startMemcached();
  t.teardown(() => mem.stop());
  const dir = t.testdir({});
  const port = await freePort();
  const p = spawn(process.execPath, [bin('checkmemcached'), '--server', `127.0.0.1:${mem.port}`, '--tag', 'obs', '--backend', 'file', '--file', join(dir, 'kv.json'), '--lock-dir', dir, '--interval', '200ms', '--listen', `127.0.0.1:${port}`], { stdio: 'ignore', env: { PATH: process.env.PATH } });
  t.teardown(() => killAndWait(p));
  t.match(await until(`http://127.0.0.1:${port}/readyz`, 200), { status: 200 });
  await sleep(500);
  const metrics = (await get(`http://127.0.0.1:${port}/metrics`)).text;
  t.match(metrics, new RegExp(`confd_haproxy_checker_active_server\\{tag="obs",server="127\\.0\\.0\\.1:${mem.port}"\\} 1`));
  t.match(metrics, new RegExp(`confd_haproxy_checker_probes_total\\{tag="obs",server="127\\.0\\.0\\.1:${mem.port}",result="ok"\\} \\d`));
  t.match(metrics, /confd_haproxy_checker_lock_held\{tag="obs"\} 1/);
  t.match(await get(`http://127.0.0.1:${port}/healthz`), { status: 200 });
  t.match(await get(`http://127.0.0.1:${port}/livez`), { status: 200 });
  // Stopped before t.testdir's own teardown removes the directory it writes into.
  await killAndWait(p);
});
