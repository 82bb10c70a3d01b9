// A store connection reset during a push is the store's failure, not the bundle's: an instance
// that reads its store through a proxy resetting the push's data reads still adopts the push, and
// never refuses it (a refusal would hold it back a minute). A bundle whose check fails is still
// refused. Once over the Consul double and once over a real etcd, each behind a resetting TCP proxy.
import t from 'tap';
import type { Test } from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConsulStore, createEtcdStore, type KVStore } from '@confd-haproxy/kv';
import { pushConfig, runFleet, type BundleEvent } from '@confd-haproxy/fleet';
import { startConsulDouble, startEtcd, startResetProxy, tempDir, until, type ResetProxy } from '@confd-haproxy/testkit';
import { fleetWhenIn, quiet, renderedIn, writeConfdir, CHECK, RELOAD } from './helpers.js';

const REFUSABLE = { check: `/bin/sh -c '[ ! -e "$REFUSE_FILE" ] && ${CHECK}'`, reload: RELOAD };

interface Via {
  name: string;
  /** A client through the proxy. */
  proxied: () => KVStore;
  /** A client straight to the store (the pusher, the test's reads). */
  direct: () => KVStore;
  proxy: ResetProxy;
  /** The bytes of a request that reads the instance's data (what the push's pass reads). */
  dataRead: (chunk: Buffer) => boolean;
  /** Resets enough to exhaust a pass's read retries (etcd's frames of watches name the prefix too, and take some). */
  overBudget: number;
  /** Whether those resets are sure to fail a pass (Consul: only the pass's plain reads match). */
  passMustFail: boolean;
  statusTtlMs: number;
}

async function scenario(t: Test, via: Via) {
  const root = tempDir(`fleet-reset-${via.name}`);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const admin = via.direct();
  t.teardown(() => admin.close());
  await admin.put('haproxy/memcached/m1', JSON.stringify({ name: 'm1', host: '127.0.0.1', port: 11211, proxyport: 16211 }));

  const confdir = join(root, 'inst', 'etc');
  const refuseFile = join(root, 'inst', 'refuse');
  writeConfdir(confdir, 'bootstrap', REFUSABLE);
  const events: BundleEvent[] = [];
  const warnings: string[] = [];
  const logger = { ...quiet, warn: (m: unknown) => void warnings.push(String(m)) };
  const ac = new AbortController();
  const store = via.proxied();
  const env = { PATH: process.env.PATH, RELOAD_LOG: join(root, 'inst', 'reloads.log'), REFUSE_FILE: refuseFile };
  const running = runFleet({
    store,
    stateDir: join(root, 'inst', 'state'),
    confdir,
    logger,
    signal: ac.signal,
    env,
    commandEnv: ['RELOAD_LOG', 'REFUSE_FILE'],
    wait: { minMs: 20, maxMs: 200 },
    diffsBeforeSync: 2,
    checkIntervalMs: 100,
    statusTtlMs: via.statusTtlMs,
    // A refusal holds the bundle back a whole minute: longer than any wait below.
    retryRefusedMs: 60_000,
    onBundle: (e) => events.push(e),
  }).finally(() => store.close());
  t.teardown(async () => {
    ac.abort();
    await running;
  });

  const fleetWhen = fleetWhenIn(admin);
  const source = join(root, 'source');
  const push = (marker: string) => {
    writeConfdir(source, marker, REFUSABLE);
    const penv = { PATH: process.env.PATH, RELOAD_LOG: join(root, 'pusher-reloads.log'), REFUSE_FILE: join(root, 'none') };
    return pushConfig({ store: admin, confdir: source, stateDir: join(root, 'pusher-state'), logger: quiet, signal: new AbortController().signal, env: penv, commandEnv: ['RELOAD_LOG', 'REFUSE_FILE'] });
  };
  const refusals = () => events.filter((e) => !e.adopted);
  const storeFailedPasses = () => warnings.filter((w) => w.includes('the store failed its pass')).length;

  await t.test('the instance publishes its status through the proxy', async (t) => {
    const v = await fleetWhen((x) => x.rows.length === 1 && Object.keys(x.rows[0]!.status.dests).length === 1);
    t.equal(v.rows.length, 1);
    t.equal(renderedIn(confdir), '# bootstrap');
  });

  await t.test('a reset of the push data reads is retried by the read itself: adopted, not refused', async (t) => {
    const before = via.proxy.resets;
    via.proxy.resetNext(2, via.dataRead);
    await push('v1');
    const v = await fleetWhen((x) => x.rows.length === 1 && x.rows[0]!.version === 1, 15_000);
    t.same(v.rows.map((r) => r.version), [1], 'version 1 adopted');
    t.equal(renderedIn(confdir), '# v1');
    t.ok(via.proxy.resets - before >= 1, `the proxy reset ${via.proxy.resets - before} data read(s) during the push`);
    t.same(refusals(), [], 'nothing refused');
    t.notOk(v.rows[0]!.status.refused, 'no refusal in the status');
    t.equal(storeFailedPasses(), 0, 'the retries absorbed the resets: no pass failed on the store');
  });

  await t.test('resets beyond the read retries fail the pass on the store: the bundle is read again soon, not refused', async (t) => {
    const before = via.proxy.resets;
    via.proxy.resetNext(via.overBudget, via.dataRead);
    await push('v2');
    const v = await fleetWhen((x) => x.rows.length === 1 && x.rows[0]!.version === 2, 30_000);
    t.same(v.rows.map((r) => r.version), [2], 'version 2 adopted once the resets stopped');
    t.equal(renderedIn(confdir), '# v2');
    t.ok(via.proxy.resets - before >= 5, `the proxy reset ${via.proxy.resets - before} data reads`);
    if (via.passMustFail) t.ok(storeFailedPasses() >= 1, 'at least one pass failed on the store');
    t.same(refusals(), [], 'nothing refused');
    via.proxy.resetNext(0);
  });

  await t.test('a bundle whose check fails is still refused', async (t) => {
    writeFileSync(refuseFile, '');
    await push('v3');
    t.ok(await until(() => refusals().length > 0, 15_000), 'refused');
    t.match(refusals()[0], { version: 3, adopted: false, refusal: 'failed', reason: /check_cmd/ });
    const v = await fleetWhen((x) => x.rows[0]?.status.refused?.version === 3);
    t.match(v.rows[0], { version: 2, state: 'failed' });
    t.equal(renderedIn(confdir), '# v2', 'keeps version 2');
  });
}

t.test('over the Consul double', async (t) => {
  const double = await startConsulDouble();
  t.teardown(() => double.close());
  const proxy = await startResetProxy({ host: '127.0.0.1', port: double.port });
  t.teardown(() => proxy.close());
  await scenario(t, {
    name: 'consul',
    proxied: () => createConsulStore({ address: proxy.address }),
    direct: () => createConsulStore({ address: double.address }),
    proxy,
    // A plain read of the data prefix (a blocking query has an index=): what a pass reads.
    dataRead: (chunk) => {
      const line = decodeURIComponent(chunk.toString('latin1').split('\r\n', 1)[0] ?? '');
      return line.startsWith('GET /v1/kv/haproxy/memcached') && !line.includes('index=');
    },
    overBudget: 12,
    passMustFail: true,
    statusTtlMs: 10_000,
  });
});

t.test('over etcd', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const proxy = await startResetProxy({ host: etcd.host, port: etcd.port });
  t.teardown(() => proxy.close());
  await scenario(t, {
    name: 'etcd',
    proxied: () => createEtcdStore({ nodes: [proxy.address] }),
    direct: () => createEtcdStore({ nodes: [etcd.endpoint] }),
    proxy,
    // gRPC frames are binary: a frame naming the data prefix (a range read, or a watch of it).
    dataRead: (chunk) => chunk.includes('/haproxy/memcached'),
    overBudget: 12,
    passMustFail: false,
    statusTtlMs: 2000,
  });
});
