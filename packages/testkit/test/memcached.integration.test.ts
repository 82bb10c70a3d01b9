import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { alive, askMemcached, memcachedPidBehind, memcachedVersion, startMemcached, LauncherError } from '@confd-haproxy/testkit';

t.test('memcached answers version over TCP on its loopback port', async (t) => {
  const m = await startMemcached();
  t.teardown(() => m.stop());
  t.equal(m.host, '127.0.0.1');
  t.match((await memcachedVersion(m.port)).answer, /^VERSION 1\.\d+/);
  t.equal(await memcachedPidBehind(m.port), m.pid, 'stats names its pid');
});

t.test('with sasl, memcached runs with -S: a text request is closed unanswered, and its sasldb holds the user', async (t) => {
  const m = await startMemcached({ sasl: { user: 'probe', password: 'secret' } });
  t.teardown(() => m.stop());
  // memcached -S reads a whole 24-byte binary header before it refuses: the request must be longer.
  const get = await askMemcached(m.port, 'get a-key-longer-than-a-binary-header', (answer) => answer.endsWith('END\r\n'), 3000);
  t.same(get, { failure: 'closed without an answer' }, 'SASL needs the binary protocol');
  t.match(readFileSync(join(m.dir, 'sasl', 'memcached.conf'), 'utf8'), `sasldb_path: ${join(m.dir, 'sasl', 'sasldb')}`, 'memcached.conf names the sasldb');
  t.ok(statSync(join(m.dir, 'sasl', 'sasldb')).size > 0, 'the sasldb saslpasswd2 made');
  t.notOk(readFileSync(join(m.dir, 'sasl', 'memcached.conf'), 'utf8').includes('secret'), 'the password is only in the sasldb');
});

t.test('a request that gets no answer says why: a timeout from a stopped memcached, the errno from a closed port', async (t) => {
  const m = await startMemcached();
  t.teardown(() => m.stop());
  m.kill('SIGSTOP');
  t.same(await memcachedVersion(m.port, 300), { failure: 'timeout' });
  m.kill('SIGCONT');
  await m.stop();
  t.same(await memcachedVersion(m.port, 300), { failure: 'ECONNREFUSED' });
});

t.test('a SIGSTOPped memcached answers nothing until SIGCONT', async (t) => {
  const m = await startMemcached();
  t.teardown(() => m.stop());
  m.kill('SIGSTOP');
  t.equal((await memcachedVersion(m.port, 300)).answer, undefined, 'no answer while stopped');
  m.kill('SIGCONT');
  t.match((await memcachedVersion(m.port)).answer, /^VERSION/, 'answers again after SIGCONT');
});

t.test('stop() leaves no process and no temp dir, even after a SIGKILL', async (t) => {
  const a = await startMemcached();
  const b = await startMemcached();
  t.not(a.port, b.port, 'two instances get two ports');
  await a.stop();
  b.kill('SIGKILL');
  await b.stop();
  await b.stop(); // a second stop() is harmless
  for (const m of [a, b]) {
    t.notOk(alive(m.pid), `pid ${m.pid} is gone`);
    t.notOk(existsSync(m.dir), `${m.dir} is removed`);
  }
  t.equal((await memcachedVersion(a.port, 300)).answer, undefined, 'nothing answers on the old port');
});

t.test('a start that crashes fails at once with memcached\'s own complaint', async (t) => {
  const err = await startMemcached({ args: ['--no-such-flag'] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof LauncherError, 'a LauncherError');
  t.match(err, { code: 'EXITED', message: /exited during start[\s\S]*no-such-flag/ }, 'names the crash, not a timeout, with the log tail');
  const dir = /(\/\S+)\/memcached\.log/.exec((err as Error).message)?.[1];
  t.ok(dir, 'the message names the log');
  t.notOk(dir && existsSync(dir), `${dir} is removed`);
});
