// Issue 23, attack 7: an instance that adopted an unsigned bundle kept rendering and reloading with
// it after a restart with --trust-key. Trust is now checked again at every start: an adopted bundle
// the current keys do not cover is set aside, the instance renders its own --confdir, and its log,
// its status and `status --fleet` say which version was set aside and why.
import t from 'tap';
import { appendFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFleet, BUNDLE_KEY } from '@confd-haproxy/fleet';
import { statusKey } from '@confd-haproxy/schema';
import { filesOf, fleetHost, makeBundle, within, type Host } from './fleet-host.js';

/** Adopt `bundle` on an instance started with `trustKeys`, then stop it, as before a restart. */
async function adoptThenStop(host: Host, bundle: ReturnType<typeof makeBundle>, trustKeys: Host['trusted'] = []) {
  await host.store.put(BUNDLE_KEY, JSON.stringify(bundle));
  const before = host.instance({ trustKeys });
  before.agent.start();
  await before.agent.step();
  await before.stop();
  return before;
}

t.test('an unsigned bundle adopted before --trust-key is not rendered after a restart with --trust-key', async (t) => {
  const host = fleetHost(t);
  const before = await adoptThenStop(host, makeBundle(1, filesOf('unsigned, written by anyone', 'reload_cmd = "/bin/true"\n')));
  t.match(before.events, [{ version: 1, adopted: true }], 'without --trust-key the unsigned version 1 was adopted');
  t.equal(host.rendered(), '# unsigned, written by anyone', 'and rendered');

  const after = host.instance({ trustKeys: host.trusted });
  t.equal(after.agent.applied, undefined, 'restarted with --trust-key, it does not run version 1');
  after.agent.start();
  t.ok(await within(5000, () => host.rendered() === '# confdir'), 'it renders its own --confdir again');
  t.notOk(after.events.some((e) => e.adopted), 'version 1 does not count as adopted');
  t.match(after.agent.status, { version: 0, checksum: '', setAside: { version: 1, reason: 'untrusted (the bundle is not signed)' } }, 'its status says which version was set aside and why');
  t.match(
    after.lines.filter((l) => l.level === 'error').map((l) => l.msg),
    [/^bundle version 1 \([0-9a-f]{12}\), adopted before this start, is not used: untrusted \(the bundle is not signed\); rendering --confdir .*etc until a bundle is adopted$/],
    'the log says so',
  );
  t.ok(await within(5000, async () => JSON.parse((await host.store.get(statusKey(after.agent.id)))?.value ?? '{}').setAside?.version === 1), 'the published status says so');
  const row = (await readFleet(host.store)).rows[0];
  t.match(row, { state: 'failed', version: 0, detail: 'set aside version 1 at start: untrusted (the bundle is not signed); runs its own --confdir' }, 'status --fleet shows it failed');
});

t.test('a bundle signed by a key no longer trusted is set aside at start', async (t) => {
  const host = fleetHost(t);
  await adoptThenStop(host, makeBundle(1, filesOf('old key'), host.otherKey), host.otherTrusted);
  t.equal(host.rendered(), '# old key', 'adopted while its key was trusted');
  const after = host.instance({ trustKeys: host.trusted });
  t.match(after.agent.status.setAside, { version: 1, reason: /^untrusted \(signed by key [0-9a-f]{12}…, which is not a --trust-key\)$/ });
  after.agent.start();
  t.ok(await within(5000, () => host.rendered() === '# confdir'), 'it renders its own --confdir');
});

t.test('a signed bundle whose kept files were changed after adoption is set aside at start', async (t) => {
  const host = fleetHost(t);
  await adoptThenStop(host, makeBundle(1, filesOf('signed'), host.signKey), host.trusted);
  t.equal(host.rendered(), '# signed');
  const [kept] = readdirSync(join(host.stateDir, 'bundles'));
  appendFileSync(join(host.stateDir, 'bundles', kept!, 'templates/app.cfg.hbs'), 'lua-load /tmp/evil.lua\n');
  const after = host.instance({ trustKeys: host.trusted });
  t.match(after.agent.status.setAside, { version: 1, reason: /^its files under .* changed after it was adopted \(.*checksum .* does not match the files/ });
  after.agent.start();
  t.ok(await within(5000, () => host.rendered() === '# confdir'), 'it renders its own --confdir, not the changed files');
});

t.test('a fleet.json naming bundle files outside the state dir is set aside at start, even when they are signed', async (t) => {
  const host = fleetHost(t);
  await adoptThenStop(host, makeBundle(1, filesOf('signed'), host.signKey), host.trusted);
  // As after copying an old state dir: fleet.json points at files someone else can change under the renderer's feet.
  const [kept] = readdirSync(join(host.stateDir, 'bundles'));
  const elsewhere = join(host.dir, 'shared-tmp', kept!);
  cpSync(join(host.stateDir, 'bundles', kept!), elsewhere, { recursive: true });
  const record = JSON.parse(readFileSync(join(host.stateDir, 'fleet.json'), 'utf8'));
  writeFileSync(join(host.stateDir, 'fleet.json'), JSON.stringify({ ...record, dir: elsewhere }));
  const after = host.instance({ trustKeys: host.trusted });
  t.match(after.agent.status.setAside, { version: 1, reason: `its files are not under ${join(host.stateDir, 'bundles')} (${elsewhere})` });
});

t.test('a signed bundle adopted under the same trusted key is run again after a restart', async (t) => {
  const host = fleetHost(t);
  await adoptThenStop(host, makeBundle(1, filesOf('signed'), host.signKey), host.trusted);
  const after = host.instance({ trustKeys: host.trusted });
  t.match(after.agent.applied, { version: 1 }, 'it continues with version 1');
  t.notOk(after.agent.status.setAside);
  after.agent.start();
  t.match(after.events, [{ version: 1, adopted: true, rendered: false }]);
});

t.test('the set-aside bundle, signed again by a trusted key, is adopted from the store', async (t) => {
  const host = fleetHost(t);
  const files = filesOf('unsigned');
  await adoptThenStop(host, makeBundle(1, files));
  const after = host.instance({ trustKeys: host.trusted });
  after.agent.start();
  await host.store.put(BUNDLE_KEY, JSON.stringify(makeBundle(2, files, host.signKey)));
  await after.agent.step();
  t.match(after.events, [{ version: 2, adopted: true }], 'the same files, signed, are adopted');
  t.notOk(after.agent.status.setAside, 'and the status no longer shows a bundle set aside');
  t.equal(host.rendered(), '# unsigned');
});
