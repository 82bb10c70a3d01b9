import t from 'tap';
import type { Test } from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, freePort, haproxyTestConfig, memcachedVersion, startHAProxy, startMemcached, LauncherError } from '@confd-haproxy/testkit';
import { eventually } from './helpers.js';

const mem = await startMemcached();
t.teardown(() => mem.stop());

async function proxied(t: Test) {
  const port = await freePort();
  const h = await startHAProxy({ config: haproxyTestConfig({ listens: [{ name: 'mem', port, servers: [{ port: mem.port }] }] }) });
  t.teardown(() => h.stop());
  return { h, port };
}

t.test('HAProxy runs in master-worker mode: the master is our child, with a worker of its own', async (t) => {
  const { h } = await proxied(t);
  const show = await h.masterCommand('show proc');
  t.match(show, new RegExp(`^${h.pid}\\s+master\\b`, 'm'), 'show proc names our child as the master');
  const workers = await h.workerPids();
  t.equal(workers.length, 1);
  t.not(workers[0], h.pid);
  t.equal(readFileSync(h.pidFile, 'utf8').trim(), String(h.pid), 'the pid file holds the master');
});

t.test('a listen proxies a TCP connection to memcached', async (t) => {
  const { port } = await proxied(t);
  t.match((await memcachedVersion(port)).answer, /^VERSION /);
});

t.test('reload() starts a new worker and the proxy keeps answering', async (t) => {
  const { h, port } = await proxied(t);
  const before = await h.workerPids();
  const r = await h.reload();
  t.equal(r.ok, true, r.message);
  const after = await h.workerPids();
  t.equal(after.length, 1);
  t.notSame(after, before, 'the worker PID changed');
  t.ok(await eventually(() => !before.some(alive)), 'the old worker exits');
  t.match((await memcachedVersion(port)).answer, /^VERSION /);
});

t.test('a reload of a broken config reports failure and the old worker keeps serving', async (t) => {
  const dir = t.testdir({});
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyTestConfig({ listens: [{ name: 'mem', port, servers: [{ port: mem.port }] }] }));
  const h = await startHAProxy({ config: cfg });
  t.teardown(() => h.stop());
  t.equal(h.statsSocket, undefined, 'a config file is used as it is');
  const before = await h.workerPids();
  writeFileSync(cfg, 'global\n    no-such-keyword\n');
  const r = await h.reload();
  t.equal(r.ok, false);
  t.match(r.message, /refused/);
  t.same(await h.workerPids(), before, 'same worker');
  t.match((await memcachedVersion(port)).answer, /^VERSION /, 'still proxies');
});

t.test('runtimeCommand reaches the stats socket: show info and set server state', async (t) => {
  const { h, port } = await proxied(t);
  t.ok(h.statsSocket && existsSync(h.statsSocket), 'a stats socket in the temp dir');
  const [worker] = await h.workerPids();
  t.match(await h.runtimeCommand('show info'), new RegExp(`^Pid: ${worker}$`, 'm'), 'answered by the worker');
  await h.runtimeCommand('set server mem/s1 state maint');
  t.equal((await memcachedVersion(port, 1000)).answer, undefined, 'no server in maint');
  await h.runtimeCommand('set server mem/s1 state ready');
  t.match((await memcachedVersion(port)).answer, /^VERSION /, 'back after ready');
});

t.test('a runtime command without a stats socket is a clear error', async (t) => {
  const port = await freePort();
  const h = await startHAProxy({ config: haproxyTestConfig({ listens: [{ name: 'mem', port, servers: [{ port: mem.port }] }] }), statsSocket: false });
  t.teardown(() => h.stop());
  await t.rejects(h.runtimeCommand('show info'), { code: 'NO_STATS_SOCKET' });
});

t.test('a config HAProxy rejects fails the start with HAProxy\'s own message', async (t) => {
  const err = await startHAProxy({ config: 'global\n    no-such-keyword\n' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof LauncherError);
  t.match(err, { code: 'EXITED', message: /no-such-keyword/ });
});

t.test('stop() leaves neither master nor workers nor temp dir', async (t) => {
  const port = await freePort();
  const h = await startHAProxy({ config: haproxyTestConfig({ listens: [{ name: 'mem', port, servers: [{ port: mem.port }] }] }) });
  const first = await h.workerPids();
  t.equal((await h.reload()).ok, true);
  const pids = [h.pid, ...first, ...(await h.workerPids())];
  await h.stop();
  for (const pid of pids) t.notOk(alive(pid), `pid ${pid} is gone`);
  t.notOk(existsSync(h.dir), `${h.dir} is removed`);
  t.equal((await memcachedVersion(port, 300)).answer, undefined, 'nothing listens on the proxy port');
});
