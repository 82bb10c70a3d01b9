// The canary's judgement and the rollout's decisions as pure functions: HAProxy's `show stat`
// read, a change judged against the rules, who takes a rollout bundle, which canaries a push
// names, and what an instance's status says about its verdict.
import t from 'tap';
import { audienceOf, DEFAULT_JUDGE, judge, parseShowStat, resolveCanaries, verdictOf, type InstanceStatus, type Rollout, type StatSample } from '@confd-haproxy/fleet';

// As HAProxy 2.6 answers (the columns after check_status cut).
const HEADER = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status';
/** One row: proxy, name, type (0 frontend, 1 backend, 2 server), status, sessions, connection errors, response errors, failed checks. */
const row = (px: string, sv: string, type: number, status: string, stot = 0, econ = 0, eresp = 0, chkfail = 0) =>
  [px, sv, 0, 0, 0, 0, '', stot, 0, 0, '', 0, '', econ, eresp, 0, 0, status, 1, 1, 0, chkfail, 0, 1, 0, '', 1, 2, 1, '', 0, '', type, 0, '', 0, 'L4OK'].join(',');
const sample = (pid: number, rows: string[]): StatSample => ({ pid, at: 0, rows: parseShowStat([HEADER, ...rows, ''].join('\n')) });
const healthy = (stot = 100, econ = 0) => [row('app', 'FRONTEND', 0, 'OPEN'), row('app', 's1', 2, 'UP'), row('app', 'BACKEND', 1, 'UP', stot, econ)];
const RULES = { ...DEFAULT_JUDGE, judgeMs: 3000 };

t.test('show stat is read by its header', async (t) => {
  const rows = parseShowStat([HEADER, row('app', 's1', 2, 'DOWN', 5, 2, 1, 7)].join('\n'));
  t.same(rows, [{ proxy: 'app', name: 's1', type: 'server', status: 'DOWN', sessions: 5, connectionErrors: 2, responseErrors: 1, checkFailures: 7 }]);
  t.throws(() => parseShowStat('Unknown command\n'), /show stat: unexpected header/);
});

t.test('a backend that was UP and is DOWN after the change fails the judgement', async (t) => {
  const after = sample(2, [row('app', 'FRONTEND', 0, 'OPEN'), row('app', 's1', 2, 'DOWN', 0, 0, 0, 4), row('app', 'BACKEND', 1, 'DOWN')]);
  const v = judge(sample(1, healthy()), after, RULES);
  t.equal(v.ok, false);
  t.same(v.reasons, ['backend app was UP and has no healthy server now']);
  t.match(v.numbers, { emptiedBackends: ['app'], downServers: ['app/s1'], checkFailures: 4 });
  t.equal(judge(sample(1, healthy()), sample(2, healthy(0)), RULES).ok, true, 'the same numbers after a reload pass');
});

t.test('a listen gone fails unless allowed; servers DOWN count only with maxDown', async (t) => {
  const gone = sample(2, [row('other', 'BACKEND', 1, 'UP')]);
  t.match(judge(sample(1, healthy()), gone, RULES).reasons, ['listen app gone (0 allowed)']);
  t.equal(judge(sample(1, healthy()), gone, { ...RULES, allowGone: 1 }).ok, true);
  const oneDown = sample(2, [...healthy(), row('app', 's2', 2, 'DOWN')]);
  t.equal(judge(sample(1, healthy()), oneDown, RULES).ok, true, 'a new server DOWN, its backend still UP: not judged by default');
  t.match(judge(sample(1, healthy()), oneDown, { ...RULES, maxDown: 0 }).reasons, ['1 server(s) went DOWN (app/s2; 0 allowed)']);
});

t.test('errors per session may rise by the margin; the same worker counts from the reading before', async (t) => {
  // Before: 1 error in 100 sessions (1 %). A new worker (pid 2) starts from zero.
  const before = sample(1, healthy(100, 1));
  t.equal(judge(before, sample(2, healthy(100, 2)), RULES).ok, true, '2 % in the window: 1 point up, within the margin');
  t.match(judge(before, sample(2, healthy(100, 10)), RULES).reasons, [/errors per session rose from 1\.0% to 10\.0% \(10 in 100 sessions; margin 1\.0%\)/]);
  t.equal(judge(before, sample(2, healthy(10, 4)), RULES).ok, true, 'fewer errors than minErrors are noise');
  // The same worker (no reload, a runtime API change): 10 more errors in 10 more sessions.
  t.match(judge(before, sample(1, healthy(110, 11)), RULES).numbers, { errors: 10, sessions: 10, errorRateAfter: 1 });
});

const ME = { id: '00000000-0000-4000-8000-000000000001', labels: ['ring=main'] };
const OTHER = '00000000-0000-4000-8000-000000000002';
const bundleWith = (rollout?: Rollout) => ({ version: 2, checksum: 'c'.repeat(64), ...(rollout ? { rollout } : {}) });
const rollout = (canaries: Rollout['canaries']): Rollout => ({ canaries, judge: RULES, waves: [50, 100] });
const record = (stage: 'canary' | 'wave' | 'promoted' | 'failed', extra = {}) => ({ version: 2, checksum: 'c'.repeat(64), stage, at: 'now', ...extra });

t.test('who takes a rollout bundle', async (t) => {
  t.same(audienceOf(bundleWith(), ME, undefined), { take: true, role: 'everyone' }, 'no rollout: everyone');
  t.same(audienceOf(bundleWith(rollout({ ids: [ME.id] })), ME, undefined), { take: true, role: 'canary' });
  t.same(audienceOf(bundleWith(rollout({ label: 'ring=main' })), ME, undefined), { take: true, role: 'canary' }, 'by its own label');
  const b = bundleWith(rollout({ ids: [OTHER] }));
  t.match(audienceOf(b, ME, undefined), { take: false, reason: /waits for the canaries/ });
  t.match(audienceOf(b, ME, record('canary')), { take: false, reason: /waits for the canaries/ });
  t.match(audienceOf(b, ME, record('wave', { wave: 1, ids: [OTHER] })), { take: false, reason: /later wave/ });
  t.same(audienceOf(b, ME, record('wave', { wave: 1, ids: [OTHER, ME.id] })), { take: true, role: 'promoted' });
  t.same(audienceOf(b, ME, record('promoted')), { take: true, role: 'promoted' });
  t.match(audienceOf(b, ME, record('failed', { reason: 'canary x: backend app DOWN' })), { take: false, reason: /failed: canary x: backend app DOWN/ });
  t.match(audienceOf(b, ME, record('promoted'), 'the rollout record is not signed'), { take: false, reason: /not trusted/ });
  t.match(audienceOf(b, ME, { ...record('promoted'), checksum: 'd'.repeat(64) }), { take: false, reason: /waits for the canaries/ }, 'a record for another bundle');
});

const status = (id: string, extra: Partial<InstanceStatus> = {}): InstanceStatus => ({ id, host: 'h', pid: 1, startedAt: '', version: 1, checksum: '', dests: {}, ...extra });

t.test('push --canary names a count, a label or instance ids', async (t) => {
  const all = [status(OTHER, { labels: ['ring=canary'] }), status(ME.id)];
  t.same(resolveCanaries('1', all), { ids: [ME.id] }, 'the first by id');
  t.same(resolveCanaries('ring=canary', all), { label: 'ring=canary' });
  t.same(resolveCanaries(OTHER.slice(0, 8), [status(OTHER)]), { ids: [OTHER] }, 'an id prefix');
  t.throws(() => resolveCanaries('3', all), /--canary 3: 2 instance\(s\) publish a status; pick 1 to 2/);
  t.throws(() => resolveCanaries('ring=none', all), /no instance publishes this label/);
  t.throws(() => resolveCanaries('00000000', all), /names several instances/);
  t.throws(() => resolveCanaries('abc', all), /names no instance/);
});

t.test('an instance verdict on a bundle, from its status', async (t) => {
  const b = { checksum: 'c'.repeat(64) };
  t.same(verdictOf(undefined, b), { state: 'pending' });
  t.same(verdictOf(status(ME.id, { rollout: { version: 2, checksum: b.checksum, role: 'canary', state: 'judging', until: '' } }), b), { state: 'pending' });
  t.same(verdictOf(status(ME.id, { rollout: { version: 2, checksum: b.checksum, role: 'canary', state: 'passed', until: '' } }), b), { state: 'passed' });
  t.same(verdictOf(status(ME.id, { refused: { version: 2, checksum: b.checksum, at: '', reason: 'untrusted (x)' } }), b), { state: 'failed', reason: 'untrusted (x)' }, 'a refusal is a failed verdict');
  t.same(verdictOf(status(ME.id, { rollout: { version: 2, checksum: 'd'.repeat(64), role: 'canary', state: 'passed', until: '' } }), b), { state: 'pending' }, 'a verdict on another bundle');
});
