// Consul services as a data source, end to end: three instances of "web" registered with TTL checks
// are rendered by the shipped haproxy-services template beside a checker's KV entry into one
// haproxy.cfg; real HAProxy sends traffic to them; a failed TTL check takes an instance out through
// the runtime API without a reload; deregistering every instance leaves the last good backend.
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConsulStore } from '@confd-haproxy/kv';
import { runWatch, type PassResult } from '@confd-haproxy/renderer';
import { freePort, memcachedPidBehind, quiet, startConsulDouble, startMemcached, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';

// A guard refusal is a GuardError in the resource's result (its type names resource errors only).
const refusedByGuard = (p: PassResult) => (p.resources[0]?.error as { code?: string } | undefined)?.code === 'GUARD_REFUSED';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('HAProxy follows the health of Consul service instances: runtime API for a failed check, the data guard for an empty answer', async (t) => {
  const mems = await Promise.all([startMemcached(), startMemcached(), startMemcached(), startMemcached()]);
  t.teardown(() => Promise.all(mems.map((m) => m.stop())));
  const [a, b, c, kvMem] = mems as [(typeof mems)[0], (typeof mems)[0], (typeof mems)[0], (typeof mems)[0]];
  const work = tempDir('e2e-services');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const reloads = join(work, 'reloads');
  writeFileSync(reloads, '');
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'], runtimeApi: true, beforeReload: `echo r >> ${reloads}` });
  t.teardown(() => stack.stop());
  // The shipped template that puts the checkers' entries and the declared services in one file.
  const toml = join(stack.dir, 'conf.d/haproxy.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('src = "haproxy.cfg.hbs"', 'src = "haproxy-services.cfg.hbs"\nservices = ["web", "api"]'));

  const consul = await startConsulDouble();
  t.teardown(() => consul.close());
  const api = async (path: string, body = '') => {
    const res = await fetch(`${consul.url}/v1${path}`, { method: 'PUT', body });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  };
  const [webPort, apiPort, memPort] = [await freePort(), await freePort(), await freePort()];
  await api('/kv/haproxy/memcached/mem', JSON.stringify({ name: 'mem', host: '127.0.0.1', port: kvMem.port, proxyport: memPort, servers: [{ host: '127.0.0.1', port: kvMem.port, weight: 100, role: 'active' }], version: 1 }));
  for (const [i, m] of [a, b, c].entries()) {
    await api('/agent/service/register', JSON.stringify({ Name: 'web', ID: `web-${i + 1}`, Address: '127.0.0.1', Port: m.port, Check: { TTL: '60s' } }));
    await api(`/agent/check/pass/service:web-${i + 1}`);
  }

  const store = createConsulStore({ address: consul.address });
  t.teardown(() => store.close());
  const ac = new AbortController();
  const passes: PassResult[] = [];
  const count = () => readFileSync(reloads, 'utf8').split('\n').filter(Boolean).length;
  // What each pass left: the file on disk and the reloads so far.
  const left: { cfg: string; reloads: number }[] = [];
  const env = { ...stack.env, WEB_BIND: `127.0.0.1:${webPort}`, API_BIND: `127.0.0.1:${apiPort}` };
  const onPass = (p: PassResult) => {
    passes.push(p);
    left.push({ cfg: readFileSync(stack.dest, 'utf8'), reloads: count() });
  };
  const rendering = runWatch({ store, confdir: stack.dir, logger: quiet, signal: ac.signal, env, wait: { minMs: 20, maxMs: 300 }, onPass });
  t.teardown(async () => {
    ac.abort();
    await rendering;
  });

  /** The memcached PIDs that answer through a port over `tries` fresh connections. */
  const behind = async (port: number, tries = 30) => {
    const seen = new Set<number>();
    for (let i = 0; i < tries; i++) {
      const pid = await memcachedPidBehind(port);
      if (pid !== undefined) seen.add(pid);
    }
    return seen;
  };
  const eventually = async (ok: () => Promise<boolean> | boolean, ms = 20_000) => {
    const until = Date.now() + ms;
    for (let i = 0; Date.now() < until && i < 2000; i++) {
      if (await ok()) return true;
      await sleep(50);
    }
    return false;
  };

  t.ok(await eventually(async () => (await behind(webPort, 12)).size === 3), 'traffic reaches all three instances');
  t.same([...(await behind(memPort, 3))], [kvMem.pid], "the checker's entry is served beside them");
  t.equal(count(), 1, 'one reload for the first render');
  const cfg = readFileSync(stack.dest, 'utf8');
  t.match(cfg, /^listen web$/m);
  t.match(cfg, /^listen mem$/m);

  await api('/agent/check/fail/service:web-2?note=down');
  t.ok(await eventually(() => passes.some((p) => p.resources[0]?.runtime?.includes('set server web/consul-double_web-2 state maint'))), 'the failed instance is set to maint through the runtime API');
  const after = await behind(webPort);
  t.notOk(after.has(b.pid), 'HAProxy no longer sends to the failed instance');
  t.ok(after.has(a.pid) && after.has(c.pid), 'the others still get traffic');
  t.equal(count(), 1, 'without a reload');
  t.match(readFileSync(stack.dest, 'utf8'), /server consul-double_web-2 127\.0\.0\.1:\d+ check weight 1 disabled/, 'the file on disk says so too');

  // All three at once. A pass that sees only some of them gone renders that shrink first (a good
  // render); what the refusal must keep is whatever the pass before it left.
  await Promise.all([1, 2, 3].map((i) => api(`/agent/service/deregister/web-${i}`)));
  t.ok(
    await eventually(() => passes.some((p) => refusedByGuard(p))),
    'the render with no web instances is refused',
  );
  const r = passes.findIndex((p) => refusedByGuard(p));
  const lastGood = left[r - 1]!;
  const webServers = /^listen web\n(?:    .*\n)*/m.exec(lastGood.cfg)![0].match(/^    server /gm)?.length ?? 0;
  t.ok(webServers >= 1, `the last good file serves web from ${webServers} instance(s)`);
  t.match(passes[r]!.resources[0]!.error!.message, new RegExp(`listen web \\(had ${webServers}\\) without servers; keeping the last good file`));
  t.equal(readFileSync(stack.dest, 'utf8'), lastGood.cfg, 'the last good haproxy.cfg stays');
  const still = await behind(webPort, 10);
  t.ok(still.size > 0 && !still.has(b.pid), 'HAProxy keeps serving from the last good backend');
  t.equal(count(), lastGood.reloads, 'and the refusal reloaded nothing');
});
