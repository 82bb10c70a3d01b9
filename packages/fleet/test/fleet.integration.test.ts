// Three renderer instances on this machine (own state dirs, own dests) take their configuration
// from the store: a push converges all three; one whose check fails keeps its version and says so;
// a restarted one catches up; the pusher reloads once; status shows each of these states. Once over
// the Consul double (or a real agent with CONSUL_HTTP_ADDR) and once over a real etcd.
import type { Test } from 'tap';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KVStore } from '@confd-haproxy/kv';
import { fleetTable, pushConfig, readFleet, runFleet, BUNDLE_KEY } from '@confd-haproxy/fleet';
import { tempDir } from '@confd-haproxy/testkit';
import { fleetWhenIn, quiet, renderedIn, sleep, writeConfdir, CHECK, RELOAD } from './helpers.js';
import { overEveryStore } from './stores.js';

// REFUSE_FILE is per instance: creating it makes that instance's check fail.
const REFUSABLE = { check: `/bin/sh -c '[ ! -e "$REFUSE_FILE" ] && ${CHECK}'`, reload: RELOAD };

interface Instance {
  name: string;
  confdir: string;
  stateDir: string;
  reloadLog: string;
  refuseFile: string;
  bundles: { version: number; adopted: boolean; rendered: boolean; reason?: string }[];
  start(extra?: { diffsBeforeSync?: number }): void;
  stop(): Promise<void>;
  rendered(): string;
  reloads(): number;
}

async function scenario(t: Test, name: string, store: () => KVStore, statusTtlMs: number) {
  const root = tempDir(`fleet-${name}`);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const admin = store();
  t.teardown(() => admin.close());
  await admin.put('haproxy/memcached/m1', JSON.stringify({ name: 'm1', host: '127.0.0.1', port: 11211, proxyport: 16211 }));

  const instances: Instance[] = ['a', 'b', 'c'].map((n) => {
    const confdir = join(root, n, 'etc');
    writeConfdir(confdir, 'bootstrap', REFUSABLE);
    const inst: Instance = {
      name: n,
      confdir,
      stateDir: join(root, n, 'state'),
      reloadLog: join(root, n, 'reloads.log'),
      refuseFile: join(root, n, 'refuse'),
      bundles: [],
      start: (extra = {}) => {
        const ac = new AbortController();
        const s = store();
        const running = runFleet({
          store: s,
          stateDir: inst.stateDir,
          confdir,
          logger: quiet,
          signal: ac.signal,
          env: { PATH: process.env.PATH, RELOAD_LOG: inst.reloadLog, REFUSE_FILE: inst.refuseFile },
          commandEnv: ['RELOAD_LOG', 'REFUSE_FILE'],
          wait: { minMs: 20, maxMs: 200 },
          diffsBeforeSync: extra.diffsBeforeSync ?? 2,
          checkIntervalMs: 100,
          statusTtlMs,
          retryRefusedMs: 1000,
          onBundle: (e) => inst.bundles.push(e),
        }).finally(() => s.close());
        inst.stop = async () => {
          ac.abort();
          await running;
        };
      },
      stop: async () => {},
      rendered: () => renderedIn(confdir),
      reloads: () => (existsSync(inst.reloadLog) ? readFileSync(inst.reloadLog, 'utf8').split('\n').filter(Boolean).length : 0),
    };
    return inst;
  });
  t.teardown(() => Promise.all(instances.map((i) => i.stop())));
  const [a, b, c] = instances as [Instance, Instance, Instance];
  for (const i of instances) i.start();

  const fleetWhen = fleetWhenIn(admin);
  const source = join(root, 'source');
  const outside = { confdir: source, stateDir: join(root, 'pusher-state'), reloadLog: join(root, 'pusher-reloads.log'), refuseFile: join(root, 'none') };
  const push = (marker: string, from: { confdir: string; stateDir: string; reloadLog: string; refuseFile: string } = outside) => {
    writeConfdir(from.confdir, marker, REFUSABLE);
    const env = { PATH: process.env.PATH, RELOAD_LOG: from.reloadLog, REFUSE_FILE: from.refuseFile };
    return pushConfig({ store: admin, confdir: from.confdir, stateDir: from.stateDir, logger: quiet, signal: new AbortController().signal, env, commandEnv: ['RELOAD_LOG', 'REFUSE_FILE'] });
  };

  await t.test('three instances publish their status before any push', async (t) => {
    const v = await fleetWhen((x) => x.rows.length === 3 && x.rows.every((r) => Object.keys(r.status.dests).length === 1));
    t.equal(v.rows.length, 3);
    t.notOk(v.bundle, 'no bundle yet');
    t.ok(v.converged, 'all render their bootstrap config alike');
    for (const i of instances) t.equal(i.rendered(), '# bootstrap', `${i.name} rendered its own --confdir`);
    t.match(fleetTable(v), /no bundle pushed: instances run their own --confdir/);
  });

  await t.test('a push converges all three', async (t) => {
    const before = instances.map((i) => i.reloads());
    const r = await push('v1');
    t.match(r, { changed: true, appliedHere: false, bundle: { version: 1 } });
    const v = await fleetWhen((x) => x.converged && x.rows.every((row) => row.version === 1));
    t.ok(v.converged, fleetTable(v));
    for (const i of instances) t.equal(i.rendered(), '# v1', `${i.name} renders version 1`);
    t.same(instances.map((i, k) => i.reloads() - before[k]!), [1, 1, 1], 'one reload each');
    t.same((await push('v1')).changed, false, 'pushing the same files again publishes nothing');
  });

  await t.test('a bundle that does not render is refused at push time', async (t) => {
    const bad = join(root, 'bad');
    writeConfdir(bad, 'v-bad', REFUSABLE);
    writeFileSync(join(bad, 'templates/app.cfg.hbs'), '{{#each (gets "/haproxy/memcached/*")}}\n');
    await t.rejects(pushConfig({ store: admin, confdir: bad, stateDir: join(root, 'pusher-state'), logger: quiet, signal: new AbortController().signal }), { code: 'FLEET_BUNDLE_REFUSED', message: /not pushed, it does not load or render/ });
    t.match(JSON.parse((await admin.get(BUNDLE_KEY))!.value), { version: 1 }, 'the store still holds version 1');
  });

  await t.test('an instance whose check fails keeps its version and says why; the others move on', async (t) => {
    writeFileSync(c.refuseFile, '');
    await push('v2');
    // The failed adoption pass may be published a moment before the refusal it leads to: wait for the refusal.
    const v = await fleetWhen((x) => x.rows.filter((r) => r.version === 2).length === 2 && x.rows.some((r) => r.state === 'failed' && r.detail.startsWith('refused')));
    const rowC = v.rows.find((r) => r.version === 1);
    t.match(rowC, { version: 1, state: 'failed', detail: /^refused: .*check_cmd.*; version 2 not adopted, runs version 1$/ }, fleetTable(v));
    t.equal(c.rendered(), '# v1', 'c keeps rendering version 1');
    t.equal(a.rendered(), '# v2');
    t.equal(b.rendered(), '# v2');
    t.notOk(v.converged);
    t.match(fleetTable(v), /failed +\S+ +refused: .*version 2 not adopted/);
    t.match(fleetTable(v), /2 of 3 instance\(s\) converged/);
    rmSync(c.refuseFile);
    const later = await fleetWhen((x) => x.converged && x.rows.every((r) => r.version === 2));
    t.ok(later.converged, `once its check passes, the refused bundle is tried again after the back-off: ${fleetTable(later)}`);
    t.equal(c.rendered(), '# v2');
  });

  await t.test('a restarted instance catches up, and status shows it behind until then', async (t) => {
    await b.stop();
    const gone = await fleetWhen((x) => x.rows.length === 2);
    t.equal(gone.rows.length, 2, 'a stopped instance leaves the fleet');
    await push('v3');
    await fleetWhen((x) => x.rows.filter((r) => r.version === 3).length === 2);
    b.start({ diffsBeforeSync: 1_000_000 }); // sees version 3 but never reads it often enough
    const behind = await fleetWhen((x) => x.rows.length === 3 && x.rows.some((r) => r.state === 'behind'));
    t.match(behind.rows.find((r) => r.state === 'behind'), { version: 2, detail: 'runs version 2, latest is 3' }, fleetTable(behind));
    t.match(fleetTable(behind), /behind/);
    await b.stop();
    b.start();
    const v = await fleetWhen((x) => x.rows.length === 3 && x.converged);
    t.ok(v.converged, fleetTable(v));
    t.same(v.rows.map((r) => r.version), [3, 3, 3]);
    t.equal(b.rendered(), '# v3');
  });

  await t.test('a push from an instance applies it there once: the pusher does not reload twice', async (t) => {
    const before = instances.map((i) => i.reloads());
    const r = await push('v4', a);
    t.match(r, { changed: true, appliedHere: true, bundle: { version: 4 } });
    const v = await fleetWhen((x) => x.converged && x.rows.every((row) => row.version === 4));
    t.ok(v.converged, fleetTable(v));
    await sleep(500); // room for a second reload, were there one
    t.same(instances.map((i, k) => i.reloads() - before[k]!), [1, 1, 1], 'one reload on each host, the pusher included');
    t.match(a.bundles.at(-1), { version: 4, adopted: true, rendered: false }, 'the pusher adopted its own push without rendering again');
  });
}

overEveryStore(scenario);
