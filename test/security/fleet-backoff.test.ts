// Issue 23, attack 10: a store writer held back a legitimate push for up to 30 minutes: a copy of
// the new bundle with a broken signature was refused, and the refusal's back-off then held back the
// good bundle too (same version, same files). Back-off is now per distinct bundle: the good one is
// considered at once, after the usual diffs_before_sync reads.
import t from 'tap';
import { BUNDLE_KEY } from '@confd-haproxy/fleet';
import { filesOf, fleetHost, makeBundle, within } from './fleet-host.js';

const MINUTE = 60_000;

t.test('a broken-signature copy of a push does not delay the push itself', async (t) => {
  const host = fleetHost(t);
  // A running instance, as in production: diffs_before_sync 3, reads 50 ms apart, refused bundles retried after a minute.
  const i = host.instance({ trustKeys: host.trusted, diffsBeforeSync: 3, checkIntervalMs: 50, retryRefusedMs: MINUTE });
  const running = i.agent.run();
  t.teardown(async () => {
    await i.stop();
    await running;
  });

  const good = makeBundle(1, filesOf('the push'), host.signKey);
  const sig = good.signature!;
  const broken = { ...good, signature: { ...sig, sig: `${sig.sig.slice(0, -4)}AAA=` } };
  await host.store.put(BUNDLE_KEY, JSON.stringify(broken));
  t.ok(await within(5000, () => i.events.some((e) => e.refusal === 'untrusted')), 'the broken copy is refused');
  t.match(i.events, [{ version: 1, adopted: false, refusal: 'untrusted', reason: /does not match the bundle/ }]);

  const written = Date.now();
  await host.store.put(BUNDLE_KEY, JSON.stringify(good));
  t.ok(await within(5000, () => i.events.some((e) => e.adopted)), 'the good bundle is adopted within seconds, not after the broken copy\'s minute');
  t.match(i.events.at(-1), { version: 1, adopted: true });
  t.ok(Date.now() - written < 5000, `adopted ${Date.now() - written} ms after it was written`);
  t.ok(await within(5000, () => host.rendered() === '# the push'), 'and it renders');

  await host.store.put(BUNDLE_KEY, JSON.stringify(broken));
  await new Promise((r) => setTimeout(r, 500));
  t.equal(i.events.filter((e) => e.refusal).length, 1, 'the broken copy written back is not tried again before its own retry time');
  t.equal(host.rendered(), '# the push', 'and the adopted bundle keeps running');
});

t.test('each distinct bundle has its own back-off: refusing one never delays another with the same files', async (t) => {
  const host = fleetHost(t);
  const clock = { ms: Date.parse('2024-01-01T00:00:00Z'), now: () => clock.ms };
  const i = host.instance({ trustKeys: host.trusted, retryRefusedMs: MINUTE }, clock);
  i.agent.start();
  const good = makeBundle(2, filesOf('v2'), host.signKey);
  const byOther = makeBundle(2, filesOf('v2'), host.otherKey);
  await host.store.put(BUNDLE_KEY, JSON.stringify(byOther));
  await i.agent.step();
  t.match(i.events, [{ version: 2, adopted: false, refusal: 'untrusted' }], 'the copy signed by another key is refused');
  t.ok(i.agent.wants(good), 'the bundle with the same version and files, signed by the trusted key, is wanted at once');
  t.notOk(i.agent.wants(byOther), 'the refused copy waits for its retry time');
  await host.store.put(BUNDLE_KEY, JSON.stringify(good));
  await i.agent.step();
  t.match(i.events.at(-1), { version: 2, adopted: true }, 'and adopted on its read, with the clock not moved');
});
