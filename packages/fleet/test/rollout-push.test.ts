// The pusher's side of a canary rollout over the file store, with instance statuses written as the
// instances would: the canaries' verdicts decide, waves are signed one after another, and a
// rollout without a canary to judge it is never promoted.
import t from 'tap';
import type { Test } from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '@confd-haproxy/kv';
import { bundleChecksum, DEFAULT_JUDGE, driveRollout, readRollout, STATUS_PREFIX, type Bundle, type InstanceStatus, type RolloutRecord, type Rollout } from '@confd-haproxy/fleet';
import { tempDir } from '@confd-haproxy/testkit';
import { quiet } from './helpers.js';

const ids = [1, 2, 3, 4, 5].map((n) => `00000000-0000-4000-8000-00000000000${n}`);
const files = { 'conf.d/app.toml': '[template]\nsrc = "a.hbs"\ndest = "a"\n', 'templates/a.hbs': 'x\n' };
const bundleWith = (rollout: Rollout): Bundle => ({ version: 2, checksum: bundleChecksum(files), pushedBy: ids[0]!, host: 'ci', pushedAt: '', files, rollout });
const rollout = (canaries: Rollout['canaries'], waves = [100]): Rollout => ({ canaries, judge: { ...DEFAULT_JUDGE, judgeMs: 1000 }, waves });

function storeIn(t: Test) {
  const dir = tempDir('rollout-push');
  const store = openStore({ backend: 'file', file: join(dir, 'kv.json') });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** Each instance's status; `verdict` judges b (every instance judges what a wave gave it). */
  const publish = (b: Bundle, verdict: (id: string) => 'passed' | 'failed', labels: (id: string) => string[] = () => []) =>
    Promise.all(
      ids.map((id) => {
        const s: InstanceStatus = { id, host: `h${id.at(-1)}`, pid: 1, startedAt: '', version: 2, checksum: b.checksum, dests: {}, labels: labels(id), rollout: { version: 2, checksum: b.checksum, role: 'canary', state: verdict(id), until: '', ...(verdict(id) === 'failed' ? { reasons: ['backend app was UP and has no healthy server now'] } : {}) } };
        return store.put(`${STATUS_PREFIX}${id}`, JSON.stringify(s));
      }),
    );
  return { store, publish };
}

const drive = (store: ReturnType<typeof storeIn>['store'], b: Bundle, records: RolloutRecord[], from?: RolloutRecord) =>
  driveRollout(b, { store, logger: quiet, signal: new AbortController().signal, reportGraceMs: 0, pollMs: 20, onRecord: (r) => records.push(r) }, from);

t.test('passing canaries promote wave by wave, by id', async (t) => {
  const { store, publish } = storeIn(t);
  const b = bundleWith(rollout({ ids: [ids[0]!] }, [50, 100]));
  await publish(b, () => 'passed');
  const records: RolloutRecord[] = [];
  const r = await drive(store, b, records);
  t.equal(r.ok, true);
  t.match(records, [{ stage: 'canary' }, { stage: 'wave', wave: 1, ids: [ids[0], ids[1], ids[2]] }, { stage: 'promoted' }], 'the canary, then itself and half of the other four, then everyone');
  t.match((await readRollout(store)).record, { stage: 'promoted', version: 2 });
});

t.test('a failed canary fails the rollout with its reason, and a resumed pusher keeps that outcome', async (t) => {
  const { store, publish } = storeIn(t);
  const b = bundleWith(rollout({ label: 'ring=canary' }));
  await publish(b, (id) => (id === ids[1] ? 'failed' : 'passed'), (id) => (id === ids[1] ? ['ring=canary'] : []));
  const records: RolloutRecord[] = [];
  const r = await drive(store, b, records);
  t.equal(r.ok, false);
  t.match(records.at(-1), { stage: 'failed', reason: /^canary 00000000 \(h2\): backend app was UP and has no healthy server now$/ });
  const again = await drive(store, b, [], (await readRollout(store)).record);
  t.match(again, { ok: false, record: { stage: 'failed' } }, 'push --resume does not undo a failed rollout');
});

t.test('no canary to judge it is a failed rollout, never a promotion', async (t) => {
  const { store, publish } = storeIn(t);
  const b = bundleWith(rollout({ label: 'ring=gone' }));
  await publish(b, () => 'passed');
  const r = await drive(store, b, []);
  t.match(r, { ok: false, record: { stage: 'failed', reason: /no instance with --instance-label ring=gone publishes a status/ } });
});

t.test('a canary that never reports fails the rollout after the window and its grace', async (t) => {
  const { store } = storeIn(t);
  const b = bundleWith(rollout({ ids: [ids[4]!] }));
  const r = await drive(store, b, []);
  t.match(r, { ok: false, record: { stage: 'failed', reason: /^canary: no verdict from 00000000 in time$/ } });
});
