import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { processResource, type ResourceConfig } from '@confd-haproxy/resource';

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
const files = (dir: string) => readdirSync(join(dir, 'etc')).sort();

t.test('a new file is staged, checked, swapped in with its mode and reloaded', async (t) => {
  const dir = t.testdir({ etc: {} });
  const log = join(dir, 'reloads');
  const r = await processResource(resource(dir, { mode: 0o600, checkCmd: 'grep -q listen {{.src}}', reloadCmd: `echo reload >> ${log}` }), 'listen a\n');
  t.match(r, { changed: true, checked: true, reloaded: true, rolledBack: false });
  t.equal(r.error, undefined);
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'listen a\n');
  t.equal(statSync(join(dir, 'etc/haproxy.cfg')).mode & 0o777, 0o600);
  t.equal(readFileSync(log, 'utf8'), 'reload\n');
  t.same(files(dir), ['haproxy.cfg'], 'no stage file is left behind');
  t.match(r.diff, /\+listen a/);
});

t.test('unchanged content runs no check and no reload', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'same\n' } });
  const r = await processResource(resource(dir, { checkCmd: 'exit 1', reloadCmd: 'exit 1' }), 'same\n');
  t.match(r, { changed: false, checked: false, reloaded: false });
  t.same(r.commands, []);
});

t.test('a mode change alone is a change', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'same\n' } });
  const r = await processResource(resource(dir, { mode: 0o640 }), 'same\n');
  t.equal(r.changed, true);
  t.equal(statSync(join(dir, 'etc/haproxy.cfg')).mode & 0o777, 0o640);
});

t.test('check_cmd gets the stage file, never world-readable when the mode is 0600', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const seen = join(dir, 'seen');
  await processResource(resource(dir, { mode: 0o600, checkCmd: `echo {{.src}} > ${seen}; stat -c %a {{.src}} >> ${seen}; cat {{.src}} >> ${seen}` }), 'new\n');
  const [path, mode, content] = readFileSync(seen, 'utf8').trim().split('\n');
  t.match(path, new RegExp(`^${join(dir, 'etc')}/\\.haproxy\\.cfg\\.`), 'the stage file is in dest\'s directory');
  t.not(path, join(dir, 'etc/haproxy.cfg'));
  t.equal(mode, '600');
  t.equal(content, 'new', 'and holds the new content');
});

t.test('a failed check leaves dest untouched and removes the stage file', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await processResource(resource(dir, { checkCmd: 'echo "[ALERT] parsing error" >&2; exit 1', reloadCmd: 'exit 0' }), 'broken\n');
  t.match(r, { changed: true, checked: false, reloaded: false, error: { code: 'RESOURCE_CHECK_FAILED', message: /check_cmd exited with 1.*\n\[ALERT\] parsing error/s } });
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'old\n');
  t.same(files(dir), ['haproxy.cfg']);
});

t.test('keep-stage-file keeps a failed stage for inspection', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  await processResource(resource(dir, { checkCmd: 'exit 1' }), 'broken\n', { keepStageFile: true });
  t.equal(files(dir).length, 2);
});

t.test('a failed reload restores the previous dest', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await processResource(resource(dir, { checkCmd: 'true', reloadCmd: 'exit 7' }), 'new\n');
  t.match(r, { changed: true, checked: true, reloaded: false, rolledBack: true, error: { code: 'RESOURCE_RELOAD_FAILED', message: /exited with 7; restored the previous/ } });
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'old\n');
  t.same(files(dir), ['haproxy.cfg']);
});

t.test('a failed reload of a first render removes the dest it created', async (t) => {
  const dir = t.testdir({ etc: {} });
  const r = await processResource(resource(dir, { reloadCmd: 'exit 1' }), 'new\n');
  t.equal(r.rolledBack, true);
  t.same(files(dir), []);
});

t.test('a hanging reload times out, is killed and rolled back', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const started = Date.now();
  const r = await processResource(resource(dir, { reloadCmd: 'sleep 30', commandTimeoutMs: 300 }), 'new\n');
  t.ok(Date.now() - started < 5000);
  t.match(r, { rolledBack: true, error: { code: 'RESOURCE_RELOAD_FAILED', message: /timed out/ } });
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'old\n');
});

t.test('noop returns the diff and writes nothing', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await processResource(resource(dir, { checkCmd: 'exit 1', reloadCmd: 'exit 1' }), 'new\n', { noop: true });
  t.match(r, { changed: true, checked: false, reloaded: false });
  t.match(r.diff, /-old\n\+new/);
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'old\n');
  t.same(files(dir), ['haproxy.cfg']);
});

t.test('sync-only writes dest and runs neither check nor reload', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n' } });
  const r = await processResource(resource(dir, { checkCmd: 'exit 1', reloadCmd: 'exit 1' }), 'new\n', { syncOnly: true });
  t.match(r, { changed: true, checked: false, reloaded: false, rolledBack: false });
  t.equal(r.error, undefined);
  t.equal(readFileSync(join(dir, 'etc/haproxy.cfg'), 'utf8'), 'new\n');
});

t.test('a dest that cannot be written is a write error and nothing else changes', async (t) => {
  const dir = t.testdir({ etc: { 'haproxy.cfg': 'old\n', notadir: 'x' } });
  const r = await processResource(resource(dir, { dest: join(dir, 'etc/notadir/haproxy.cfg'), reloadCmd: 'exit 1' }), 'new\n');
  t.match(r, { reloaded: false, error: { code: 'RESOURCE_WRITE_FAILED', message: /notadir/ } });
  t.same(files(dir), ['haproxy.cfg', 'notadir']);
});
