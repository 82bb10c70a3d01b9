import t from 'tap';
import type { Entry, EntryBody } from '@confd-haproxy/schema';
import { decide, type DecisionInput } from '../dist/decide.js';

/** The entry a kind would choose with this server active and the other one its backup. */
const body = (active: string, backup: string): EntryBody => ({
  name: 'db1',
  host: active,
  port: 3306,
  proxyport: 13306,
  servers: [
    { host: active, port: 3306, weight: 100, role: 'active' },
    { host: backup, port: 3306, weight: 100, role: 'backup' },
  ],
});
/** As it sits in the store, written by another checker a while ago. */
const stored = (b: EntryBody): Entry => ({ ...b, version: 1, checker: 'other:1', updated: '2026-01-01T00:00:00.000Z' });

const A = body('10.0.0.1', '10.0.0.2');
const B = body('10.0.0.2', '10.0.0.1');
const NOW = '2026-12-06T16:00:00.000Z';

/** A holder with an eligible target and the stored entry pointing at A, unless told otherwise. */
const input = (o: Partial<DecisionInput>): DecisionInput => ({
  stored: stored(A),
  choice: { entry: A },
  anyEligible: true,
  mayWrite: true,
  wasUnchanged: false,
  checker: 'me:2',
  updated: NOW,
  failures: () => '10.0.0.1:3306 connection refused; 10.0.0.2:3306 timed out',
  ...o,
});

t.test('the stored entry is kept when the kind chooses exactly it, whoever wrote it and when', async (t) => {
  const d = decide(input({}));
  t.match(d, { action: 'keep', reason: 'unchanged', confirmed: true });
  t.same(d.entry, stored(A), 'the report carries the stored entry, not a restamped one');
});

t.test('an unchanged entry is told at info when the state becomes ok and at debug on each steady pass', async (t) => {
  t.equal(decide(input({ wasUnchanged: false })).logLevel, 'info');
  t.equal(decide(input({ wasUnchanged: true })).logLevel, 'debug');
});

t.test('an unchanged entry is kept by a standby too: nothing to write, nothing to wait for', async (t) => {
  t.equal(decide(input({ mayWrite: false })).action, 'keep');
});

t.test('a new choice is written by the holder, stamped with its name and the time', async (t) => {
  const d = decide(input({ choice: { entry: B } }));
  t.match(d, { action: 'write', reason: 'changed', logLevel: 'info' });
  t.same(d.entry, { ...B, version: 1, checker: 'me:2', updated: NOW });
});

t.test('the first entry of a tag is written when the key is empty', async (t) => {
  t.match(decide(input({ stored: undefined })), { action: 'write', entry: { host: '10.0.0.1', checker: 'me:2' } });
});

t.test('a new choice is not written without a fresh lock: the checker stands by and the stored entry stays', async (t) => {
  const d = decide(input({ choice: { entry: B }, mayWrite: false }));
  t.match(d, { action: 'standby', reason: 'standby: another checker holds the lock', logLevel: 'silent' });
  t.same(d.entry, stored(A));
});

t.test('a chosen entry that breaks the schema is refused at error, even by the holder, and the stored one stays', async (t) => {
  const d = decide(input({ choice: { entry: { ...B, host: 'db 2 # evil' } } }));
  t.match(d, { action: 'refuse', logLevel: 'error', reason: /^bad entry: host "db 2 # evil"/ });
  t.same(d.entry, stored(A));
});

t.test('a bad entry is refused before the lock is asked about: a standby says why too', async (t) => {
  t.equal(decide(input({ choice: { entry: { ...B, port: 0 } }, mayWrite: false })).action, 'refuse');
});

t.test('no choice keeps the stored entry silently; with no eligible target the reason names each failure', async (t) => {
  const failures = () => '10.0.0.1:3306 connection refused; 10.0.0.2:3306 timed out';
  const none = decide(input({ choice: {}, anyEligible: false, failures }));
  t.match(none, { action: 'keep', confirmed: false, logLevel: 'silent', reason: 'no healthy server (10.0.0.1:3306 connection refused; 10.0.0.2:3306 timed out); entry kept' });
  t.same(none.entry, stored(A));
  t.match(decide(input({ choice: { problem: 'split-brain' } })), { action: 'keep', reason: 'nothing to choose; entry kept' });
});

t.test('the failures are asked for only when no target may serve', async (t) => {
  let asked = 0;
  const failures = () => String(++asked);
  decide(input({ choice: {}, failures }));
  decide(input({ choice: { entry: B }, failures }));
  t.equal(asked, 0);
});

t.test('an empty key and no choice stay empty', async (t) => {
  t.match(decide(input({ stored: undefined, choice: {} })), { action: 'keep', entry: undefined });
});
