// Issue 28: a canary rollout's audience and promotion are what the pusher signed. A store writer
// against --trust-key instances cannot widen the canary set, drop the rollout to reach everyone,
// or promote the others with a record of its own (unsigned, signed by another key, edited, or
// replayed from another rollout); a canary that cannot judge the change goes back by itself.
import t from 'tap';
import type { Test } from 'tap';
import { BUNDLE_KEY, DEFAULT_JUDGE, ROLLOUT_KEY, signRecord, type Rollout, type RolloutRecord } from '@confd-haproxy/fleet';
import { filesOf, fleetHost, makeBundle, within } from './fleet-host.js';

const OTHER = '00000000-0000-4000-8000-0000000000aa';
/** A host and its started --trust-key instance. */
function trustingInstance(t: Test) {
  const host = fleetHost(t);
  const i = host.instance({ trustKeys: host.trusted });
  i.agent.start();
  return { host, i };
}

const rolloutFor = (ids: string[]): Rollout => ({ canaries: { ids }, judge: { ...DEFAULT_JUDGE, judgeMs: 1000 }, waves: [100] });

t.test('a store writer cannot widen the canary set or drop the rollout', async (t) => {
  const { host, i } = trustingInstance(t);
  const b = makeBundle(1, filesOf('v1'), host.signKey, { rollout: rolloutFor([OTHER]) });
  await host.store.put(BUNDLE_KEY, JSON.stringify({ ...b, rollout: rolloutFor([OTHER, i.agent.id]) }));
  await i.agent.step();
  t.match(i.events, [{ version: 1, adopted: false, refusal: 'untrusted', reason: /does not match the bundle/ }], 'a canary set with this instance added is refused');
  const { rollout: _dropped, ...everyone } = b;
  await host.store.put(BUNDLE_KEY, JSON.stringify({ ...everyone, pushedAt: new Date().toISOString() }));
  await i.agent.step();
  t.match(i.events.at(-1), { adopted: false, refusal: 'untrusted' }, 'so is the bundle with its rollout removed');
  await host.store.put(BUNDLE_KEY, JSON.stringify({ ...b, rollout: { ...b.rollout!, judge: { ...b.rollout!.judge, judgeMs: 3_600_000 } } }));
  await i.agent.step();
  t.match(i.events.at(-1), { adopted: false, refusal: 'untrusted' }, 'and one with other judge rules');
  t.notOk(i.events.some((e) => e.adopted), 'nothing was adopted');
});

t.test('an instance outside the canaries waits, and only a record the pusher signed for this bundle promotes it', async (t) => {
  const { host, i } = trustingInstance(t);
  const b = makeBundle(1, filesOf('v1'), host.signKey, { rollout: rolloutFor([OTHER]) });
  await host.store.put(BUNDLE_KEY, JSON.stringify(b));
  await i.agent.step();
  t.same(i.events, [], 'not a canary: nothing adopted, nothing refused');
  t.match(i.agent.status.waiting, { version: 1, reason: /waits for the canaries of version 1/ });

  const promoted = { version: b.version, checksum: b.checksum, stage: 'promoted' as const, at: new Date().toISOString() };
  const attempts: [string, RolloutRecord, RegExp][] = [
    ['unsigned', signRecord(promoted, undefined), /not trusted .*not signed/],
    ['signed by another key', signRecord(promoted, host.otherKey), /not trusted .*not a --trust-key/],
    ['a signed wave edited to name this instance', { ...signRecord({ ...promoted, stage: 'wave', wave: 1, ids: [OTHER] }, host.signKey), ids: [OTHER, i.agent.id] }, /not trusted .*does not match the rollout record/],
    ['replayed from another bundle', signRecord({ ...promoted, version: 7, checksum: 'f'.repeat(64) }, host.signKey), /waits for the canaries/],
    ['a signed wave that does not name it', signRecord({ ...promoted, stage: 'wave', wave: 1, ids: [OTHER] }, host.signKey), /waits for a later wave/],
  ];
  for (const [what, record, reason] of attempts) {
    await host.store.put(ROLLOUT_KEY, JSON.stringify(record));
    await i.agent.step();
    t.notOk(i.events.some((e) => e.adopted), `${what}: not adopted`);
    t.match(i.agent.status.waiting?.reason, reason, `${what}: the status says why`);
  }
  t.ok(await within(5000, () => host.rendered() === '# confdir'), 'it still renders what it ran');

  await host.store.put(ROLLOUT_KEY, JSON.stringify(signRecord(promoted, host.signKey)));
  await i.agent.step();
  t.match(i.events, [{ version: 1, adopted: true }], 'the record the pusher signed promotes it');
  t.equal(host.rendered(), '# v1');
});

t.test('a canary that cannot read HAProxy judges the change failed and goes back by itself, also after a restart', async (t) => {
  const { host, i } = trustingInstance(t);
  const b = makeBundle(1, filesOf('v1'), host.signKey, { rollout: rolloutFor([i.agent.id]) });
  await host.store.put(BUNDLE_KEY, JSON.stringify(b));
  await i.agent.step();
  t.match(i.events, [{ version: 1, adopted: true }], 'the canary takes it');
  t.equal(host.rendered(), '# v1');
  t.match(i.agent.status.rollout, { version: 1, role: 'canary', state: 'judging' });
  t.ok(await within(5000, () => i.events.some((e) => e.refusal === 'judged')), 'after the window it is judged');
  t.match(i.events.at(-1), { version: 1, adopted: false, refusal: 'judged', reason: /no --stats-socket/ });
  t.ok(await within(5000, () => host.rendered() === '# confdir'), 'and the canary renders what it ran before');
  t.match(i.agent.status, { version: 0, refused: { version: 1, reason: /^judged failed .*reverted/ }, rollout: { state: 'failed', reverted: true } });
  await i.stop();

  const restarted = host.instance({ trustKeys: host.trusted });
  restarted.agent.start();
  await restarted.agent.step();
  t.same(restarted.events, [], 'a restart does not take the bundle judged failed again');
  t.equal(restarted.agent.applied, undefined);
});

t.test('a canary restarted before its verdict goes back at the next start (its numbers from before the change are gone)', async (t) => {
  const { host, i } = trustingInstance(t);
  await host.store.put(BUNDLE_KEY, JSON.stringify(makeBundle(1, filesOf('v1'), host.signKey)));
  await i.agent.step();
  t.equal(host.rendered(), '# v1', 'version 1 runs (no rollout)');
  const b = makeBundle(2, filesOf('v2'), host.signKey, { rollout: { ...rolloutFor([i.agent.id]), judge: { ...DEFAULT_JUDGE, judgeMs: 60_000 } } });
  await host.store.put(BUNDLE_KEY, JSON.stringify(b));
  await i.agent.step();
  t.match(i.agent.status.rollout, { version: 2, state: 'judging' }, 'the canary took version 2 and judges it');
  await i.stop();

  const restarted = host.instance({ trustKeys: host.trusted });
  t.match(restarted.agent.applied, { version: 1 }, 'the restart runs version 1 again');
  t.match(restarted.agent.status, { version: 1, refused: { version: 2, reason: /^judged failed \(the instance restarted before its judgement ended/ } });
  restarted.agent.start();
  await restarted.agent.step();
  t.notOk(restarted.events.some((e) => e.version === 2 && e.adopted), 'and never takes version 2 again');
  t.ok(await within(5000, () => host.rendered() === '# v1'), 'it renders version 1');
});
