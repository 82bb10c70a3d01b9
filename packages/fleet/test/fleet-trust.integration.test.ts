// Three instances that trust one push key and allow two commands, over the Consul double (or a
// real agent with CONSUL_HTTP_ADDR) and over a real etcd: a store writer without the key cannot
// make them run anything, a signed push converges them, and a signed push with a command outside
// --allow-command is refused all the same.
import type { Test } from 'tap';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { KVStore } from '@confd-haproxy/kv';
import { bundleChecksum, fleetTable, generatePushKey, parseBundle, pushConfig, readBundleFiles, readFleet, readSignKey, readTrustKey, runFleet, signBundle, BUNDLE_KEY, type RefusalKind } from '@confd-haproxy/fleet';
import { tempDir } from '@confd-haproxy/testkit';
import { fleetWhenIn, quiet, renderedIn, sleep, writeConfdir, CHECK, RELOAD } from './helpers.js';
import { overEveryStore } from './stores.js';

interface Event {
  version: number;
  adopted: boolean;
  refusal?: RefusalKind;
  reason?: string;
}

async function scenario(t: Test, name: string, store: () => KVStore, statusTtlMs: number) {
  const root = tempDir(`fleet-trust-${name}`);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const admin = store();
  t.teardown(() => admin.close());
  await admin.put('haproxy/memcached/m1', JSON.stringify({ name: 'm1', host: '127.0.0.1', port: 11211, proxyport: 16211 }));
  const keys = generatePushKey(join(root, 'keys'));
  const stranger = generatePushKey(join(root, 'stranger'));
  const markers = { check: join(root, 'check-ran'), reload: join(root, 'reload-ran') };
  const evil = { check: `touch ${markers.check}`, reload: `touch ${markers.reload}` };

  const instances = ['a', 'b', 'c'].map((n) => {
    const confdir = join(root, n, 'etc');
    writeConfdir(confdir, 'bootstrap');
    const events: Event[] = [];
    const ac = new AbortController();
    const s = store();
    const running = runFleet({
      store: s,
      stateDir: join(root, n, 'state'),
      confdir,
      logger: quiet,
      signal: ac.signal,
      env: { PATH: process.env.PATH, RELOAD_LOG: join(root, n, 'reloads.log') },
      commandEnv: ['RELOAD_LOG'],
      wait: { minMs: 20, maxMs: 200 },
      diffsBeforeSync: 2,
      checkIntervalMs: 100,
      statusTtlMs,
      retryRefusedMs: 300,
      trustKeys: [readTrustKey(keys.pubFile)],
      policy: { allowCommands: [RELOAD, '/usr/sbin/haproxy -c -q -f *'], allowDests: [`${confdir}/`] },
      onBundle: (e) => events.push(e),
    }).finally(() => s.close());
    return {
      name: n,
      events,
      rendered: () => renderedIn(confdir),
      stop: async () => {
        ac.abort();
        await running;
      },
    };
  });
  t.teardown(() => Promise.all(instances.map((i) => i.stop())));

  const fleetWhen = fleetWhenIn(admin);
  /** Until every instance refused `version` at least `times` times (a retry refuses it again). */
  const refusedBy = async (version: number, times: number) => {
    const deadline = Date.now() + 20_000;
    const count = (i: (typeof instances)[number]) => i.events.filter((e) => e.version === version && !e.adopted).length;
    while (instances.some((i) => count(i) < times) && Date.now() < deadline) await sleep(100);
    return instances.map(count);
  };
  const source = join(root, 'source');
  const signKey = readSignKey(keys.keyFile);
  const push = (marker: string, cmds?: { check: string; reload: string }) => {
    writeConfdir(source, marker, cmds);
    return pushConfig({ store: admin, confdir: source, stateDir: join(root, 'pusher-state'), logger: quiet, signal: new AbortController().signal, signKey });
  };
  /** What a store writer without the key can do: write any bundle it likes. */
  const writeBundle = async (t: Test, bundle: object) => {
    const cur = await admin.get(BUNDLE_KEY);
    t.ok(await admin.put(BUNDLE_KEY, JSON.stringify(bundle), { cas: cur?.modifyIndex ?? 0 }), 'the untrusted bundle is in the store');
  };
  const evilFiles = () => {
    const dir = join(root, 'evil');
    writeConfdir(dir, 'owned', evil);
    return readBundleFiles(dir);
  };
  const nextVersion = async () => parseBundle((await admin.get(BUNDLE_KEY))!.value).version + 1;
  const bundleOf = (version: number, files: Record<string, string>) => ({ version, checksum: bundleChecksum(files), pushedBy: 'x', host: 'evil', pushedAt: new Date().toISOString(), files });

  await t.test('a signed push converges all three', async (t) => {
    const r = await push('v1');
    t.match(r, { changed: true, bundle: { version: 1, signature: { alg: 'ed25519', keyId: keys.keyId } } });
    const v = await fleetWhen((x) => x.rows.length === 3 && x.converged && x.rows.every((row) => row.version === 1));
    t.ok(v.converged, fleetTable(v));
    t.match(fleetTable(v), new RegExp(`signed by key ${keys.keyId.slice(0, 12)}`));
    for (const i of instances) t.equal(i.rendered(), '# v1', `${i.name} renders version 1`);
  });

  const untrusted: [string, () => Promise<object>, RegExp][] = [
    ['an unsigned bundle', async () => bundleOf(await nextVersion(), evilFiles()), /^untrusted \(the bundle is not signed\)$/],
    ['a bundle signed by a key no instance trusts', async () => signBundle(bundleOf(await nextVersion(), evilFiles()), readSignKey(stranger.keyFile)), /^untrusted \(signed by key \w+…, which is not a --trust-key\)$/],
    [
      'a signed bundle whose files were swapped afterwards',
      async () => {
        const signed = signBundle(bundleOf(await nextVersion(), readBundleFiles(source)), signKey);
        const files = evilFiles();
        return { ...signed, files, checksum: bundleChecksum(files) };
      },
      /^untrusted \(the signature by key \w+… \(.*push\.pub\) does not match the bundle\)$/,
    ],
  ];
  for (const [what, make, reason] of untrusted) {
    await t.test(`a store writer without the key publishes ${what} that would run touch: nothing runs, all three refuse it as untrusted`, async (t) => {
      const bundle = (await make()) as { version: number };
      await writeBundle(t, bundle);
      const counts = await refusedBy(bundle.version, 2);
      t.ok(counts.every((n) => n >= 2), `refused, and refused again on the retry (${counts.join(', ')})`);
      for (const i of instances) t.ok(i.events.filter((e) => e.version === bundle.version).every((e) => !e.adopted && e.refusal === 'untrusted'), `${i.name} refused it as untrusted every time`);
      const v = await fleetWhen((x) => x.rows.every((r) => r.status.refused?.version === bundle.version));
      t.equal(v.rows.length, 3);
      for (const row of v.rows) {
        t.match(row, { state: 'failed', version: 1, detail: /^refused: untrusted \(/ }, `${row.id.slice(0, 8)} shows it refused as untrusted and runs version 1`);
        t.match(row.status.refused?.reason, reason, 'with the reason');
      }
      t.match(fleetTable(v), /failed +\S+ +refused: untrusted \(/);
      t.notOk(existsSync(markers.check), 'no check_cmd of the untrusted bundle ran');
      t.notOk(existsSync(markers.reload), 'no reload_cmd of the untrusted bundle ran');
      for (const i of instances) t.equal(i.rendered(), '# v1', `${i.name} still renders version 1`);
    });
  }

  await t.test('a signed push with a benign change converges all three again', async (t) => {
    const r = await push('v2');
    t.equal(r.changed, true);
    const v = await fleetWhen((x) => x.converged && x.rows.every((row) => row.version === r.bundle.version));
    t.ok(v.converged, fleetTable(v));
    for (const i of instances) t.equal(i.rendered(), '# v2', `${i.name} renders the signed change`);
  });

  await t.test('a signed push with a command outside --allow-command is refused by every instance, and nothing runs', async (t) => {
    const running = (await readFleet(admin)).rows[0]!.version;
    // The glob word of "/usr/sbin/haproxy -c -q -f *" does not stretch over a space into more words.
    const r = await push('v3', { check: `${CHECK} ${evil.check}`, reload: evil.reload });
    t.equal(r.changed, true, 'the pusher signs whatever it is given');
    await refusedBy(r.bundle.version, 1);
    const v = await fleetWhen((x) => x.rows.every((row) => row.status.refused?.version === r.bundle.version));
    t.equal(v.rows.length, 3);
    for (const row of v.rows) {
      t.match(row, { state: 'failed', version: running, detail: /^refused: not allowed \(conf\.d\/app\.toml: check_cmd .* matches no --allow-command; conf\.d\/app\.toml: reload_cmd "touch .*" matches no --allow-command\)/ }, `${row.id.slice(0, 8)} names both commands`);
    }
    for (const i of instances) t.ok(i.events.filter((e) => e.version === r.bundle.version).every((e) => e.refusal === 'not allowed'), `${i.name} refused it by local policy`);
    t.notOk(existsSync(markers.check), 'the check_cmd did not run');
    t.notOk(existsSync(markers.reload), 'the reload_cmd did not run');
    for (const i of instances) t.equal(i.rendered(), '# v2', `${i.name} keeps version ${running}`);
  });
}

overEveryStore(scenario);
