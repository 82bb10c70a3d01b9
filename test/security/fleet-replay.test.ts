// Issue 23, attack 9: a store writer wrote a signed version 1 back over version 2 and instances
// adopted it (with a warning); a bundle signed for staging was adopted in production. With
// --trust-key an instance now adopts only a version above the trusted one it runs, and only a
// bundle signed for its --environment; a rollback is a new push of old files (push --rollback-to).
import t from 'tap';
import { BUNDLE_KEY, pushConfig, STATUS_PREFIX } from '@confd-haproxy/fleet';
import { filesOf, fleetHost, makeBundle, within } from './fleet-host.js';
import { quiet } from '@confd-haproxy/testkit';


t.test('a signed version 1 written back over version 2 is refused, also after a restart', async (t) => {
  const host = fleetHost(t);
  const v1 = makeBundle(1, filesOf('v1'), host.signKey);
  const v2 = makeBundle(2, filesOf('v2'), host.signKey);
  const i = host.instance({ trustKeys: host.trusted });
  i.agent.start();
  for (const b of [v1, v2]) {
    await host.store.put(BUNDLE_KEY, JSON.stringify(b));
    await i.agent.step();
  }
  t.match(i.events, [{ version: 1, adopted: true }, { version: 2, adopted: true }], 'versions 1 and 2 were adopted in turn');

  // The store writer kept version 1 as it was pushed, signature and all, and writes it back.
  await host.store.put(BUNDLE_KEY, JSON.stringify(v1));
  await i.agent.step();
  t.match(i.events.at(-1), { version: 1, adopted: false, refusal: 'stale', rendered: false }, 'version 1 is refused as stale');
  t.equal(i.events.at(-1)?.reason, 'stale (version 1 is not above the running version 2: an older bundle written back (a rollback is a new push: push --rollback-to))');
  t.equal(host.rendered(), '# v2', 'version 2 still renders');
  t.match(i.agent.status, { version: 2, refused: { version: 1, reason: /^stale/ } }, 'the status says why');
  await i.stop();

  const restarted = host.instance({ trustKeys: host.trusted });
  restarted.agent.start();
  await restarted.agent.step();
  t.match(restarted.events, [{ version: 2, adopted: true, rendered: false }, { version: 1, adopted: false, refusal: 'stale' }], 'after a restart it continues with version 2 and refuses version 1 again');
  t.equal(host.rendered(), '# v2');
});

t.test('a bundle signed for staging, written to production, is refused there; one for production is adopted', async (t) => {
  const host = fleetHost(t);
  const prod = host.instance({ trustKeys: host.trusted, environment: 'production' });
  prod.agent.start();
  const staging = makeBundle(1, filesOf('staging'), host.signKey, { environment: 'staging' });
  await host.store.put(BUNDLE_KEY, JSON.stringify(staging));
  await prod.agent.step();
  t.match(prod.events, [{ version: 1, adopted: false, refusal: 'foreign', reason: 'foreign (pushed for environment "staging", this instance is for environment "production" (--environment))' }], 'the staging bundle is refused as foreign');

  const { environment: _staging, ...unscoped } = staging;
  await host.store.put(BUNDLE_KEY, JSON.stringify(unscoped));
  await prod.agent.step();
  t.match(prod.events.at(-1), { version: 1, adopted: false, refusal: 'untrusted', reason: /does not match the bundle/ }, 'with its environment removed its signature no longer holds');
  await host.store.put(BUNDLE_KEY, JSON.stringify({ ...staging, environment: 'production' }));
  await prod.agent.step();
  t.match(prod.events.at(-1), { version: 1, adopted: false, refusal: 'untrusted' }, 'nor with its environment rewritten');
  t.notOk(prod.events.some((e) => e.adopted), 'nothing was adopted');
  t.ok(await within(5000, () => host.rendered() === '# confdir'), 'production renders its own --confdir');

  await host.store.put(BUNDLE_KEY, JSON.stringify(makeBundle(2, filesOf('production'), host.signKey, { environment: 'production' })));
  await prod.agent.step();
  t.match(prod.events.at(-1), { version: 2, adopted: true }, 'a bundle signed for production is adopted');
  t.equal(host.rendered(), '# production');
});

t.test('an instance without --environment refuses a bundle pushed for one', async (t) => {
  const host = fleetHost(t);
  const i = host.instance({ trustKeys: host.trusted });
  i.agent.start();
  await host.store.put(BUNDLE_KEY, JSON.stringify(makeBundle(1, filesOf('staging'), host.signKey, { environment: 'staging' })));
  await i.agent.step();
  t.match(i.events, [{ version: 1, adopted: false, refusal: 'foreign', reason: 'foreign (pushed for environment "staging", this instance is for no environment (--environment))' }]);
});

t.test('a rollback is a new push of the files of an earlier version, adopted as the next version', async (t) => {
  const host = fleetHost(t);
  const i = host.instance({ trustKeys: host.trusted });
  i.agent.start();
  for (const b of [makeBundle(1, filesOf('v1'), host.signKey), makeBundle(2, filesOf('v2'), host.signKey)]) {
    await host.store.put(BUNDLE_KEY, JSON.stringify(b));
    await i.agent.step();
  }
  const push = { store: host.store, confdir: host.confdir, stateDir: host.stateDir, logger: quiet, signal: i.signal, signKey: host.signKey };
  const r = await pushConfig({ ...push, rollbackTo: '1' });
  t.match(r, { changed: true, bundle: { version: 3 }, rolledBackTo: { version: 1 } }, 'the files of version 1 are pushed as version 3');
  await i.agent.step();
  t.match(i.events.at(-1), { version: 3, adopted: true }, 'and adopted');
  t.ok(await within(5000, () => host.rendered() === '# v1'), 'version 1\'s files render again');
  await t.rejects(pushConfig({ ...push, rollbackTo: '7' }), { code: 'FLEET_BUNDLE_REFUSED', message: /^--rollback-to 7: no bundle version 7 is kept under .*bundles/ }, 'a version that is not kept is an error naming it');
});

t.test('a push after a store reset counts on from the versions the instances run', async (t) => {
  const host = fleetHost(t);
  const i = host.instance({ trustKeys: host.trusted });
  i.agent.start();
  await host.store.put(BUNDLE_KEY, JSON.stringify(makeBundle(5, filesOf('v5'), host.signKey)));
  await i.agent.step();
  t.ok(await within(5000, async () => (await host.store.list(STATUS_PREFIX)).pairs.some((p) => JSON.parse(p.value).version === 5)), 'the instance publishes that it runs version 5');
  await host.store.delete(BUNDLE_KEY);
  const ci = fleetHost(t);
  const r = await pushConfig({ store: host.store, confdir: ci.confdir, stateDir: ci.stateDir, logger: quiet, signal: i.signal, signKey: host.signKey });
  t.equal(r.bundle.version, 6, 'the bundle key is gone, but an instance runs version 5: the push is version 6');
  await i.agent.step();
  t.match(i.events.at(-1), { version: 6, adopted: true }, 'and the instance adopts it');
});
