import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { takeLocalLock } from '@confd-haproxy/checker';

t.test('the lock file holds our PID and is removed on release', async (t) => {
  const dir = join(t.testdir({}), 'run', 'confd-haproxy');
  const lock = takeLocalLock(dir, 'mysqlslave', 'slave3301', 'checkmysqlslave');
  t.equal(lock.path, join(dir, 'mysqlslave-slave3301.pid'), 'the directory is created');
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid));
  t.same(readdirSync(dir), ['mysqlslave-slave3301.pid'], 'no temporary file is left behind');
  lock.release();
  t.notOk(existsSync(lock.path));
});

t.test('a second copy for the same tag on the same host is refused with a clear message', async (t) => {
  const dir = t.testdir({});
  // The parent (the test runner) is a live process that is not us.
  writeFileSync(join(dir, 'memcached-mem11211.pid'), `${process.ppid}\n`);
  t.throws(() => takeLocalLock(dir, 'memcached', 'mem11211', 'checkmemcached'), {
    code: 'CHECKER_LOCKED',
    message: `another checkmemcached (pid ${process.ppid}) already checks tag mem11211 on this host (lock file ${join(dir, 'memcached-mem11211.pid')})`,
  });
  t.equal(readFileSync(join(dir, 'memcached-mem11211.pid'), 'utf8').trim(), String(process.ppid), 'the holder keeps its file');
});

t.test('another tag or another kind is not blocked', async (t) => {
  const dir = t.testdir({});
  writeFileSync(join(dir, 'memcached-mem11211.pid'), `${process.ppid}\n`);
  const other = takeLocalLock(dir, 'memcached', 'mem11212', 'checkmemcached');
  const kind = takeLocalLock(dir, 'mysqlslave', 'mem11211', 'checkmysqlslave');
  other.release();
  kind.release();
  t.pass('both taken');
});

t.test('a stale lock file from a dead process is taken over', async (t) => {
  const dir = t.testdir({});
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  t.ok(dead > 0);
  writeFileSync(join(dir, 'mysqlslave-s1.pid'), `${dead}\n`);
  const lock = takeLocalLock(dir, 'mysqlslave', 's1', 'checkmysqlslave');
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid));
  lock.release();
});

t.test('a garbage lock file is taken over', async (t) => {
  const dir = t.testdir({ 'mysqlslave-s1.pid': 'not a pid\n' });
  const lock = takeLocalLock(dir, 'mysqlslave', 's1', 'checkmysqlslave');
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid));
  lock.release();
});

t.test('release leaves a file that another process took over alone', async (t) => {
  const dir = t.testdir({});
  const lock = takeLocalLock(dir, 'mysqlslave', 's1', 'checkmysqlslave');
  writeFileSync(lock.path, `${process.ppid}\n`);
  lock.release();
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.ppid));
});

t.test('a lock directory that cannot be created is a clear error', async (t) => {
  const dir = t.testdir({ file: 'x' });
  t.throws(() => takeLocalLock(join(dir, 'file', 'sub'), 'mysqlslave', 's1', 'checkmysqlslave'), {
    code: 'CHECKER_LOCKED',
    message: /cannot create the lock file .*mysqlslave-s1\.pid .*--lock-dir/,
  });
});
