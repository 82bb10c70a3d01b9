// Issue 23, attack 8: a non-root instance without --state-dir used a shared /tmp path; another local
// user made it first with a fleet.json pointing at their own bundle, and the victim ran that
// bundle's reload_cmd. The state dir is now private: a non-root default lives under the user's own
// state directory, a state dir or a file in it that another user owns or others may write is
// refused (naming the path), and a new one is made 0700. The tests run as root and play the other
// user with uid 65534 (nobody).
import t, { type Test } from 'tap';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandMain } from 'confd-haproxy';

const confdHaproxy = await commandMain('confd-haproxy');
import { filesOf, fleetHost, within } from './fleet-host.js';
import { runInProcess } from '@confd-haproxy/testkit';

const NOBODY = 65534;

/** Run confd-haproxy in this process; its exit code and what it wrote. */
const run = (argv: string[]) => runInProcess(confdHaproxy, argv);

/** Write files (path → content) under dir. */
function writeTree(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** A confdir rendering app.cfg, and an empty file store beside it. */
function confdirWithStore(t: Test): string {
  const dir = t.testdir({ 'kv.json': '{}' });
  writeTree(dir, filesOf('confdir'));
  return dir;
}

/** chown dir and the files under it to uid (and the group of the same number). */
function chownTree(dir: string, files: string[], uid: number): void {
  chownSync(dir, uid, uid);
  for (const f of files) chownSync(join(dir, f), uid, uid);
}

t.test("a state dir another user made, with a fleet.json naming their bundle, is refused before that bundle's reload_cmd can run", async (t) => {
  const host = fleetHost(t);
  const marker = join(host.dir, 'ran-the-other-users-reload');
  // The other user's bundle and the fleet.json that points at it, in the state dir they made first.
  const theirs = join(host.stateDir, 'bundles', 'v1-000000000000');
  writeTree(theirs, filesOf('theirs', `reload_cmd = "touch ${marker}"\n`));
  writeFileSync(join(host.stateDir, 'fleet.json'), JSON.stringify({ version: 1, checksum: '0'.repeat(64), dir: theirs, appliedAt: '2024-01-01T00:00:00Z' }));
  chownTree(host.stateDir, ['fleet.json', 'bundles', 'bundles/v1-000000000000', 'bundles/v1-000000000000/conf.d', 'bundles/v1-000000000000/conf.d/app.toml', 'bundles/v1-000000000000/templates', 'bundles/v1-000000000000/templates/app.cfg.hbs'], NOBODY);

  let refused: unknown;
  try {
    host.instance().agent.start();
    await within(3000, () => existsSync(marker));
  } catch (err) {
    refused = err;
  }
  t.notOk(existsSync(marker), "the other user's reload_cmd did not run");
  t.equal(host.rendered(), undefined, 'nothing was rendered');
  t.match(refused, { code: 'FLEET_STATE_UNSAFE', message: new RegExp(`^--state-dir ${host.stateDir}: ${host.stateDir} is owned by uid 65534, not by this process's user \\(uid 0\\) or root; `) }, 'the instance refuses the state dir, naming it');
});

t.test('a state dir others may write, or holding a file another user owns, is refused with exit 65 naming the path', async (t) => {
  const cases: [string, (state: string) => void, RegExp][] = [
    ['a world-writable state dir', (s) => chmodSync(s, 0o777), /state is writable by others \(mode 0777\)/],
    ['a state dir writable by another group', (s) => (chownSync(s, 0, NOBODY), chmodSync(s, 0o770)), /state is writable by group 65534 \(mode 0770\), not this process's group 0/],
    ['a fleet.json another user owns', (s) => (writeFileSync(join(s, 'fleet.json'), '{}'), chownSync(join(s, 'fleet.json'), NOBODY, NOBODY)), /state\/fleet\.json is owned by uid 65534/],
    ['an instance-id others may write', (s) => (writeFileSync(join(s, 'instance-id'), ''), chmodSync(join(s, 'instance-id'), 0o666)), /state\/instance-id is writable by others/],
    ['last good entries another user owns', (s) => (writeFileSync(join(s, 'entries-0123456789.json'), '{}'), chownSync(join(s, 'entries-0123456789.json'), NOBODY, NOBODY)), /state\/entries-0123456789\.json is owned by uid 65534/],
    ['a world-writable kept bundle', (s) => (mkdirSync(join(s, 'bundles/v1-000000000000'), { recursive: true }), chmodSync(join(s, 'bundles/v1-000000000000'), 0o777)), /state\/bundles\/v1-000000000000 is writable by others/],
    ['a status file linked to another user\'s file', (s) => (writeFileSync(join(s, '..', 'theirs.json'), '{}'), chownSync(join(s, '..', 'theirs.json'), NOBODY, NOBODY), symlinkSync(join(s, '..', 'theirs.json'), join(s, 'status-0123456789.json'))), /state\/status-0123456789\.json is owned by uid 65534/],
  ];
  for (const [what, make, message] of cases) {
    const dir = confdirWithStore(t);
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    make(state);
    const r = await run(['--onetime', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', state, '--log-level', 'error']);
    t.equal(r.code, 65, `${what}: exit 65`);
    t.match(r.err, message, `${what}: the error names the path and what is wrong`);
    t.notOk(existsSync(join(dir, 'app.cfg')), `${what}: nothing was rendered`);
  }
});

t.test("a state dir the process's own group may write (a Kubernetes fsGroup volume) is accepted", async (t) => {
  const dir = confdirWithStore(t);
  const state = join(dir, 'state');
  mkdirSync(state);
  chmodSync(state, 0o2775);
  writeFileSync(join(state, 'fleet.json'), '{}');
  chmodSync(join(state, 'fleet.json'), 0o660);
  const r = await run(['--onetime', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', state, '--log-level', 'error']);
  t.equal(r.code, 0, r.err);
});

t.test('a state dir the renderer makes is private to its user (0700)', async (t) => {
  const dir = confdirWithStore(t);
  const state = join(dir, 'new/state');
  const r = await run(['--onetime', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', state, '--log-level', 'error']);
  t.equal(r.code, 0, r.err);
  t.equal(statSync(state).mode & 0o777, 0o700);
});

t.test("a non-root user's default state dir is in their own state directory, never a shared temporary one", async (t) => {
  const { defaultStateDir } = await import('confd-haproxy');
  const home = () => '/home/alice';
  t.equal(defaultStateDir({ uid: 1000, env: {}, home }), '/home/alice/.local/state/confd-haproxy', '~/.local/state/confd-haproxy');
  t.equal(defaultStateDir({ uid: 1000, env: { HOME: '/srv/alice' }, home }), '/srv/alice/.local/state/confd-haproxy', 'under $HOME');
  t.equal(defaultStateDir({ uid: 1000, env: { XDG_STATE_HOME: '/home/alice/state' }, home }), '/home/alice/state/confd-haproxy', '$XDG_STATE_HOME/confd-haproxy');
  t.equal(defaultStateDir({ uid: 1000, env: { XDG_STATE_HOME: 'relative' }, home }), '/home/alice/.local/state/confd-haproxy', 'a relative $XDG_STATE_HOME is ignored, as the XDG spec says');
  t.equal(defaultStateDir({ uid: 0, env: {}, home }), '/var/lib/confd-haproxy', 'root keeps /var/lib/confd-haproxy');
  t.throws(() => defaultStateDir({ uid: 1000, env: {}, home: () => '' }), { message: /no home directory .* give --state-dir/ });
  for (const uid of [1000, 65534]) t.notOk(defaultStateDir({ uid, env: {}, home }).startsWith(tmpdir()), `uid ${uid}: not under ${tmpdir()}`);
});

t.test("a non-root checker's default lock dir is its own, never a shared temporary one", async (t) => {
  const { defaultLockDir } = await import('confd-haproxy');
  const home = () => '/home/alice';
  t.equal(defaultLockDir({ uid: 1000, env: { XDG_RUNTIME_DIR: '/run/user/1000' }, home }), '/run/user/1000/confd-haproxy', '$XDG_RUNTIME_DIR/confd-haproxy');
  t.equal(defaultLockDir({ uid: 1000, env: {}, home }), '/home/alice/.local/state/confd-haproxy/locks', 'else under the state dir');
  t.equal(defaultLockDir({ uid: 0, env: {}, home }), '/run/confd-haproxy', 'root keeps /run/confd-haproxy');
  for (const uid of [1000, 65534]) t.notOk(defaultLockDir({ uid, env: {}, home }).startsWith(tmpdir()), `uid ${uid}: not under ${tmpdir()}`);
});
