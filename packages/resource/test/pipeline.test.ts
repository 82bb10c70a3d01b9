import t from 'tap';
import { chmodSync, chownSync, existsSync, lstatSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { applySwapped, chooseApply, readDest, swapChange, type ResourceConfig, type SwapOptions } from '@confd-haproxy/resource';
import { quiet } from '@confd-haproxy/testkit';

function resource(dir: string, extra: Partial<ResourceConfig> = {}): ResourceConfig {
  return {
    name: 'conf.d/haproxy.toml',
    file: join(dir, 'conf.d/haproxy.toml'),
    src: join(dir, 'templates/haproxy.cfg.hbs'),
    srcName: 'haproxy.cfg.hbs',
    dest: join(dir, 'etc/haproxy.cfg'),
    keys: ['/haproxy'],
    prefix: '',
    mode: 0o644,
    uid: process.getuid!(),
    gid: process.getgid!(),
    ...extra,
  };
}

/** The renderer's chain after the guard, for one resource: choose how to apply → stage/check/swap → apply. */
async function swap(resource: ResourceConfig, rendered: string, opts: SwapOptions = {}) {
  const change = { resource, previous: await readDest(resource.name, resource.dest), rendered };
  return swapChange(change, chooseApply(change, opts), { ...opts, logger: quiet });
}

async function swapAndApply(resource: ResourceConfig, rendered: string, opts: SwapOptions = {}) {
  const { results } = await applySwapped([await swap(resource, rendered, opts)], { ...opts, logger: quiet });
  return results[0]!;
}
const files = (dir: string) => readdirSync(join(dir, 'etc')).sort();
const read = (dir: string, name = 'haproxy.cfg') => readFileSync(join(dir, 'etc', name), 'utf8');
// A killed process whose parent is gone stays a zombie here (PID 1 does not reap): it counts as gone.
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

t.test('a new file is staged, checked, swapped in with its mode and reloaded', async (t) => {
  const dir = t.testdir({ etc: {} });
  const log = join(dir, 'reloads');
  const r = await swapAndApply(resource(dir, { mode: 0o600, checkCmd: 'grep -q listen {{.src}}', reloadCmd: `echo reload >> ${log}` }), 'listen a\n');
  t.match(r, { changed: true, checked: true, reloaded: true, rolledBack: false });
  t.equal(r.error, undefined);
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'listen a\n');
  t.equal(statSync(join(dir, 'etc/haproxy.cfg')).mode & 0o777, 0o600);
  t.equal(readFileSync(log, 'utf8'), 'reload\n');
  t.same(files(dir), ['haproxy.cfg'], 'no stage file is left behind');
  t.equal(r.diff, '', 'a real pass computes no diff: only plan and -noop print one');
  const asked = await swapAndApply(resource(dir, {}), 'listen b\n', { diff: true });
  t.match(asked.diff, /-listen a\n\+listen b/, 'unless the caller asks for it');
});

t.test('unchanged content runs no check and no reload', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'same\n' } });
  const r = await swapAndApply(resource(dir, { checkCmd: 'exit 1', reloadCmd: 'exit 1' }), 'same\n');
  t.match(r, { changed: false, checked: false, reloaded: false });
  t.same(r.commands, []);
});

t.test('a mode change alone is a change', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'same\n' } });
  const r = await swapAndApply(resource(dir, { mode: 0o640 }), 'same\n');
  t.equal(r.changed, true);
  t.equal(statSync(join(dir, 'etc/haproxy.cfg')).mode & 0o777, 0o640);
});

t.test('check_cmd gets the stage file, never world-readable when the mode is 0600', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const seen = join(dir, 'seen');
  await swapAndApply(resource(dir, { mode: 0o600, checkCmd: `echo {{.src}} > ${seen}; stat -c %a {{.src}} >> ${seen}; cat {{.src}} >> ${seen}` }), 'new\n');
  const [path, mode, content] = readFileSync(seen, 'utf8').trim().split('\n');
  t.match(path, new RegExp(`^${join(dir, 'etc')}/\\.haproxy\\.cfg\\.`), 'the stage file is in dest\'s directory');
  t.not(path, join(dir, 'etc/haproxy.cfg'));
  t.equal(mode, '600');
  t.equal(content, 'new', 'and holds the new content');
});

t.test('check_cmd reads the staged new content, not the old dest', async (t) => {
  const root = t.testdir({ passes: { etc: { 'haproxy.cfg': 'bad\n' } }, fails: { etc: { 'haproxy.cfg': 'listen ok\n' } } });
  const [passes, fails] = [join(root, 'passes'), join(root, 'fails')];
  const r1 = await swapAndApply(resource(passes, { checkCmd: 'grep -q ok {{.src}}' }), 'listen ok\n');
  t.match(r1, { changed: true, checked: true, error: undefined });
  t.equal(read(passes), 'listen ok\n');
  const r2 = await swapAndApply(resource(fails, { checkCmd: 'grep -q ok {{.src}}' }), 'bad\n');
  t.match(r2, { checked: false, error: { code: 'RESOURCE_CHECK_FAILED' } });
  t.equal(read(fails), 'listen ok\n');
});

t.test('only {{.src}} is substituted, shell-quoted, however odd the dest name', async (t) => {
  const dir = t.testdir({ etc: {} });
  const seen = join(dir, 'seen');
  const dest = join(dir, "etc/it's $(touch pwned) `touch pwned2`.cfg");
  const r = await swapAndApply(resource(dir, { dest, checkCmd: `cat {{ .src }} > ${seen}; echo '{{.dest}}' >> ${seen}` }), 'listen $(touch pwned3)\n');
  t.equal(r.error, undefined);
  t.equal(readFileSync(seen, 'utf8'), 'listen $(touch pwned3)\n{{.dest}}\n', 'the stage path reached cat; {{.dest}} stays as written');
  t.equal(readFileSync(dest, 'utf8'), 'listen $(touch pwned3)\n');
  for (const f of ['pwned', 'pwned2', 'pwned3']) t.notOk(existsSync(join(dir, f)) || existsSync(f), `nothing ran ${f}`);
});

t.test('the configured mode holds against the umask, for stage and dest', async (t) => {
  const dir = t.testdir({ etc: {} });
  const seen = join(dir, 'seen');
  // umask 022 would turn a plain create of 0664 into 0644.
  await swapAndApply(resource(dir, { mode: 0o664, checkCmd: `umask 077; stat -c %a {{.src}} > ${seen}` }), 'x\n');
  t.equal(readFileSync(seen, 'utf8').trim(), '664');
  t.equal(statSync(join(dir, 'etc/haproxy.cfg')).mode & 0o777, 0o664);
});

const asRoot = { skip: process.getuid?.() !== 0 && 'chown needs root' };

t.test('uid and gid own the stage file and dest, and an owner change alone is a change', asRoot, async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'same\n' } });
  const seen = join(dir, 'seen');
  const r = await swapAndApply(resource(dir, { uid: 65534, gid: 65534, mode: 0o600, checkCmd: `stat -c %u:%g:%a {{.src}} > ${seen}` }), 'same\n');
  t.match(r, { changed: true, checked: true });
  t.equal(readFileSync(seen, 'utf8').trim(), '65534:65534:600');
  const st = statSync(join(dir, 'etc/haproxy.cfg'));
  t.same([st.uid, st.gid, st.mode & 0o777], [65534, 65534, 0o600]);
});

t.test('a failed check leaves dest untouched and removes the stage file', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await swapAndApply(resource(dir, { checkCmd: 'echo "[ALERT] parsing error" >&2; exit 1', reloadCmd: 'exit 0' }), 'broken\n');
  t.match(r, { changed: true, checked: false, reloaded: false, error: { code: 'RESOURCE_CHECK_FAILED', message: /check_cmd exited with 1.*\n\[ALERT\] parsing error/s } });
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'old\n');
  t.same(files(dir), ['haproxy.cfg']);
});

t.test('keep-stage-file keeps a failed stage for inspection', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  await swapAndApply(resource(dir, { checkCmd: 'exit 1' }), 'broken\n', { keepStageFile: true });
  t.equal(files(dir).length, 2);
});

t.test('a failed reload restores the previous dest', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await swapAndApply(resource(dir, { checkCmd: 'true', reloadCmd: 'exit 7' }), 'new\n');
  t.match(r, { changed: true, checked: true, reloaded: false, rolledBack: true, error: { code: 'RESOURCE_RELOAD_FAILED', message: /exited with 7; restored the previous/ } });
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'old\n');
  t.same(files(dir), ['haproxy.cfg']);
});

t.test('a failed reload of a first render removes the dest it created', async (t) => {
  const dir = t.testdir({ etc: {} });
  const r = await swapAndApply(resource(dir, { reloadCmd: 'exit 1' }), 'new\n');
  t.equal(r.rolledBack, true);
  t.same(files(dir), []);
});

t.test('a hanging reload times out, is killed and rolled back', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const pidFile = join(dir, 'pid');
  const started = Date.now();
  const r = await swapAndApply(resource(dir, { reloadCmd: `sleep 30 & echo $! > ${pidFile}; wait`, commandTimeoutMs: 300 }), 'new\n');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  t.teardown(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  t.ok(Date.now() - started < 5000, `returned after ${Date.now() - started} ms`);
  t.match(r, { reloaded: false, rolledBack: true, error: { code: 'RESOURCE_RELOAD_FAILED', message: /timed out.*restored the previous/ } });
  t.equal(r.commands.at(-1)?.timedOut, true);
  t.equal(read(dir), 'old\n');
  t.same(files(dir), ['haproxy.cfg']);
  t.notOk(alive(pid), 'the reload command\'s child is killed');
});

t.test('a rollback restores the previous mode and owner too', asRoot, async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  chmodSync(join(dir, 'etc/haproxy.cfg'), 0o640);
  chownSync(join(dir, 'etc/haproxy.cfg'), 65534, 65534);
  const r = await swapAndApply(resource(dir, { mode: 0o644, reloadCmd: 'exit 1' }), 'new\n');
  t.equal(r.rolledBack, true);
  const st = statSync(join(dir, 'etc/haproxy.cfg'));
  t.same([read(dir), st.mode & 0o777, st.uid, st.gid], ['old\n', 0o640, 65534, 65534]);
});

t.test('the swap stage checks and swaps the file, and leaves the reload to the apply stage', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const s = await swap(resource(dir, { checkCmd: 'true', reloadCmd: `touch ${join(dir, 'reloaded')}` }), 'new\n');
  t.match(s, { swap: { changed: true, checked: true, error: undefined }, after: { kind: 'reload-cmd' } });
  t.equal(read(dir), 'new\n');
  t.notOk(existsSync(join(dir, 'reloaded')));
});

t.test('a shared reload runs once and its failure rolls back exactly the resources that depend on it', async (t) => {
  const dir = t.testdir({ etc: { 'a.cfg': 'a-old\n', 'b.cfg': 'b-old\n', 'c.cfg': 'c-old\n' } });
  const count = join(dir, 'count');
  const reload = `echo x >> ${count}; exit 1`;
  const swapped = await Promise.all(
    ['a', 'b', 'c'].map((n) => swap(resource(dir, { name: `conf.d/${n}.toml`, dest: join(dir, `etc/${n}.cfg`), reloadCmd: n === 'c' ? 'true' : reload }), `${n}-new\n`)),
  );
  t.same([read(dir, 'a.cfg'), read(dir, 'b.cfg'), read(dir, 'c.cfg')], ['a-new\n', 'b-new\n', 'c-new\n'], 'all three swapped before any reload');
  const { results, reloads } = await applySwapped(swapped, { logger: quiet });
  t.match(reloads, [{ ok: false, exitCode: 1 }, { ok: true }]);
  const failure = { code: 'RESOURCE_RELOAD_FAILED', message: /a\.cfg.*b\.cfg/ };
  t.match(results, [{ rolledBack: true, error: failure }, { rolledBack: true, error: failure }, { changed: true, reloaded: true, rolledBack: false, error: undefined }]);
  t.equal(readFileSync(count, 'utf8'), 'x\n', 'the shared reload ran once');
  t.same([read(dir, 'a.cfg'), read(dir, 'b.cfg'), read(dir, 'c.cfg')], ['a-old\n', 'b-old\n', 'c-new\n'], 'c, reloaded by another command, keeps its new content');
});

t.test('noop returns the diff and writes nothing', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await swapAndApply(resource(dir, { checkCmd: 'exit 1', reloadCmd: 'exit 1' }), 'new\n', { noop: true });
  t.match(r, { changed: true, checked: false, reloaded: false });
  t.match(r.diff, /-old\n\+new/);
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'old\n');
  t.same(files(dir), ['haproxy.cfg']);
});

t.test('sync-only writes dest and runs neither check nor reload', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await swapAndApply(resource(dir, { checkCmd: 'exit 1', reloadCmd: 'exit 1' }), 'new\n', { syncOnly: true });
  t.match(r, { changed: true, checked: false, reloaded: false, rolledBack: false });
  t.equal(r.error, undefined);
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'new\n');
});

t.test('a dest that cannot be written is a write error and nothing else changes', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n', notadir: 'x' } });
  const r = await swapAndApply(resource(dir, { dest: join(dir, 'etc/notadir/haproxy.cfg'), reloadCmd: 'exit 1' }), 'new\n');
  t.match(r, { reloaded: false, error: { code: 'RESOURCE_WRITE_FAILED', message: /notadir/ } });
  t.same(files(dir), ['haproxy.cfg', 'notadir']);
});

t.test('with a policy, where dest lands is checked when it is read and written: a directory swapped for a link out is refused, and so is a dest swapped for one', async (t) => {
  const dir = t.testdir({ allowed: {}, outside: { victim: 'victim\n' } });
  symlinkSync(join(dir, 'allowed'), join(dir, 'etc'));
  const policy = { allowDests: [`${join(dir, 'allowed')}/`] };
  const r = resource(dir);
  t.match(await swapAndApply(r, 'one\n', { policy }), { changed: true, error: undefined });
  t.equal(readFileSync(join(dir, 'allowed/haproxy.cfg'), 'utf8'), 'one\n', 'written through the link while it leads into the allowed directory');
  renameSync(join(dir, 'etc'), join(dir, 'etc.old'));
  symlinkSync(join(dir, 'outside'), join(dir, 'etc'));
  await t.rejects(readDest(r.name, r.dest, policy), { code: 'RESOURCE_NOT_ALLOWED' }, 'not even read for the render guards');
  t.match(await swapAndApply(r, 'two\n', { policy }), { changed: false, error: { code: 'RESOURCE_NOT_ALLOWED', message: /^conf\.d\/haproxy\.toml: dest .*\/etc\/haproxy\.cfg \(.*\/outside\/haproxy\.cfg\) is outside every --allow-dest at the time of writing; nothing was read or written there$/ } });
  t.notOk(existsSync(join(dir, 'outside/haproxy.cfg')), 'nothing landed outside');
  renameSync(join(dir, 'etc.old'), join(dir, 'etc'));
  symlinkSync(join(dir, 'outside/victim'), join(dir, 'allowed/haproxy.cfg.link'));
  renameSync(join(dir, 'allowed/haproxy.cfg.link'), join(dir, 'allowed/haproxy.cfg'));
  t.match(await swapAndApply(r, 'three\n', { policy }), { changed: false, error: { code: 'RESOURCE_NOT_ALLOWED', message: /is a symlink to .*\/outside\/victim, outside every --allow-dest/ } });
  t.equal(readFileSync(join(dir, 'outside/victim'), 'utf8'), 'victim\n');
  t.ok(lstatSync(join(dir, 'allowed/haproxy.cfg')).isSymbolicLink(), 'the link is left alone');
});
