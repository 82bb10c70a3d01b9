// SASL memcached (memcached -S, a sasldb made by the test) through memjs: the login, failover,
// a refused login that leaves the entry alone, a server that needs a login none was given, and
// the checker's deadline ruling over memjs's own timers and retries, with no socket left behind.
import t from 'tap';
import type { Test } from 'tap';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, type Target } from '@confd-haproxy/checker';
import { memcachedKind, saslRequired, type MemcachedChoiceDetail, type SaslCredentials } from '@confd-haproxy/check-memcached';
import { freePort, ownSocketsTo, quiet, type ServiceHandle, startMemcached, until } from '@confd-haproxy/testkit';

const LOGIN: SaslCredentials = { user: 'probe', password: 'right horse battery' };
const signal = new AbortController().signal;
// Generous: a first login costs tens of ms, more on a loaded machine; the deadline tests set their own.
const TIMEOUT_MS = 2000;

async function saslMemcached(t: Test): Promise<ServiceHandle> {
  const m = await startMemcached({ sasl: LOGIN });
  t.teardown(async () => {
    m.kill('SIGCONT');
    await m.stop();
  });
  return m;
}

const at = (m: { host: string; port: number }): Target => ({ host: m.host, port: m.port });

function checker(t: Test, file: string, servers: Target[], sasl: SaslCredentials | undefined, name = 'test:1', timeoutMs = TIMEOUT_MS) {
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  const kind = memcachedKind({ tag: 'memsasl', servers, timeoutMs, ...(sasl ? { sasl } : {}) });
  const c = new TagChecker<Target, unknown, unknown, MemcachedChoiceDetail>({ tag: 'memsasl', kind, store, logger: quiet, checker: name, timeoutMs, retryUp: 1, retryDown: 1, lockTtlMs: 5000, noLock: true });
  t.teardown(() => c.close());
  return c;
}

t.test('with the right login the entry is written, and a killed active server is replaced by the next', async (t) => {
  const [a, b] = await Promise.all([saslMemcached(t), saslMemcached(t)]);
  const c = checker(t, join(t.testdir({}), 'kv.json'), [at(a), at(b)], LOGIN);
  const first = await c.pass(signal);
  t.same(first.results.map((x) => x.result.ok), [true, true], 'both servers took the login and the set/get');
  t.equal(first.wrote, true);
  t.match(first.entry, { name: 'memsasl', host: '127.0.0.1', port: a.port });
  a.kill('SIGKILL');
  const r = await c.pass(signal);
  t.equal(r.wrote, true);
  t.equal(r.entry?.port, b.port, 'moved to the live server');
  t.match(r.results[0]?.result, { ok: false, reason: /^connection (refused|closed)/ });
});

t.test('probes reuse one kept, logged-in connection per server', async (t) => {
  const m = await saslMemcached(t);
  const c = checker(t, join(t.testdir({}), 'kv.json'), [at(m)], LOGIN);
  t.equal((await c.pass(signal)).results[0]?.result.ok, true);
  const first = ownSocketsTo(m.port);
  t.equal(first.length, 1, 'one connection');
  for (let i = 0; i < 5; i++) t.equal((await c.pass(signal)).results[0]?.result.ok, true);
  t.same(ownSocketsTo(m.port), first, 'still the same one (same local port)');
});

t.test('a wrong password fails every server with "SASL authentication failed" and leaves the entry untouched', async (t) => {
  const [a, b] = await Promise.all([saslMemcached(t), saslMemcached(t)]);
  const file = join(t.testdir({}), 'kv.json');
  const right = checker(t, file, [at(a), at(b)], LOGIN);
  const before = (await right.pass(signal)).entry;
  t.ok(before, 'the right login wrote the entry');
  await right.close();
  const wrong = checker(t, file, [at(a), at(b)], { user: LOGIN.user, password: 'wrong' }, 'test:2');
  for (let i = 0; i < 2; i++) {
    const r = await wrong.pass(signal);
    const refused = 'SASL authentication failed for user "probe"';
    t.same(
      r.results.map((x) => [x.target.port, x.result.ok, x.result.reason]),
      [
        [a.port, false, refused],
        [b.port, false, refused],
      ],
      'each server refused the login',
    );
    t.equal(r.wrote, false, `pass ${i}: nothing written`);
    t.same(r.entry, before, `pass ${i}: the entry is as it was`);
    t.same(
      r.choice?.detail?.sasl.map((x) => [x.target.port, x.problem]),
      [
        [a.port, 'refused'],
        [b.port, 'refused'],
      ],
      'the choice names both servers',
    );
  }
  t.ok(await until(() => ownSocketsTo(a.port).length + ownSocketsTo(b.port).length === 0, 2000, 10), 'no connection kept after a refused login');
});

t.test('without a login, a server that needs one is named as such, and the entry is untouched', async (t) => {
  const m = await saslMemcached(t);
  const file = join(t.testdir({}), 'kv.json');
  const before = (await checker(t, file, [at(m)], LOGIN).pass(signal)).entry;
  const r = await checker(t, file, [at(m)], undefined, 'test:2').pass(signal);
  t.match(r.results[0]?.result, { ok: false, reason: 'the server requires SASL authentication (memcached -S) and no SASL user is set' });
  t.same(r.choice?.detail?.sasl.map((x) => x.problem), ['required']);
  t.equal(r.wrote, false);
  t.same(r.entry, before);
});

t.test('a server that closes the connection unanswered but speaks no SASL is not taken for one that needs a login', async (t) => {
  const port = await freePort();
  const closer = createServer((s) => s.once('data', () => s.destroy()));
  await new Promise<void>((done) => closer.listen(port, '127.0.0.1', done));
  t.teardown(() => new Promise<void>((done) => closer.close(() => done())));
  const r = await checker(t, join(t.testdir({}), 'kv.json'), [{ host: '127.0.0.1', port }], undefined).pass(signal);
  t.match(r.results[0]?.result, { ok: false, reason: /closed|ECONNRESET/ });
  t.same(r.choice?.detail?.sasl, [], 'no SASL problem');
});

t.test('a server needs a login when it lists SASL mechanisms; memcached without -S, a closed port and a closing server do not', async (t) => {
  const [sasl, plain] = await Promise.all([saslMemcached(t), startMemcached()]);
  t.teardown(() => plain.stop());
  const closedPort = await freePort();
  const closer = createServer((s) => s.destroy());
  const closerPort = await freePort();
  await new Promise<void>((done) => closer.listen(closerPort, '127.0.0.1', done));
  t.teardown(() => new Promise<void>((done) => closer.close(() => done())));
  const ask = (port: number) => saslRequired('127.0.0.1', port, AbortSignal.timeout(2000));
  t.equal(await ask(sasl.port), true, 'memcached -S');
  t.equal(await ask(plain.port), false, 'memcached without -S answers "unknown command"');
  t.equal(await ask(closedPort), false, 'nothing listening');
  t.equal(await ask(closerPort), false, 'a server that closes at once');
  sasl.kill('SIGSTOP');
  const started = Date.now();
  t.equal(await saslRequired('127.0.0.1', sasl.port, AbortSignal.timeout(200)), false, 'a stopped server: no answer by the deadline');
  t.ok(Date.now() - started < 1500, 'the deadline ended the question');
  t.ok(await until(() => ownSocketsTo(sasl.port).length === 0, 2000, 10), 'and its socket is destroyed');
});

t.test("a hung SASL server fails at the checker's deadline, not memjs's, and its socket is closed", async (t) => {
  const [hung, ok] = await Promise.all([saslMemcached(t), saslMemcached(t)]);
  const deadline = 600;
  const c = checker(t, join(t.testdir({}), 'kv.json'), [at(hung), at(ok)], LOGIN, 'test:1', deadline);
  t.equal((await c.pass(signal)).entry?.port, hung.port);
  t.equal(ownSocketsTo(hung.port).length, 1, 'the kept connection');
  hung.kill('SIGSTOP');
  const r = await c.pass(signal);
  t.equal(r.entry?.port, ok.port, 'moved away from the hung server');
  t.same(r.results[0]?.result.reason, `no answer within ${deadline} ms`, "the checker's deadline ended the probe (memjs's timers are set past it)");
  t.ok(await until(() => ownSocketsTo(hung.port).length === 0, 2000, 10), 'the socket to the hung server is destroyed, not left half-closed');
  // A new connection is accepted by the kernel even while the server is stopped: it must not linger either.
  const again = await c.pass(signal);
  t.match(again.results[0]?.result, { ok: false });
  t.ok(await until(() => ownSocketsTo(hung.port).length === 0, 2000, 10), 'nor is the one the next probe opened');
});

t.test('a connection closed under a probe ends it at once, and memjs tries no second connection', async (t) => {
  const port = await freePort();
  let accepted = 0;
  const closer = createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((done) => closer.listen(port, '127.0.0.1', done));
  t.teardown(() => new Promise<void>((done) => closer.close(() => done())));
  const r = await checker(t, join(t.testdir({}), 'kv.json'), [{ host: '127.0.0.1', port }], LOGIN).pass(signal);
  t.match(r.results[0]?.result, { ok: false, reason: /^connection closed/ }, 'not the deadline');
  // memjs's default (2 retries, 0.2 s apart) would connect again after the probe gave up.
  t.notOk(await until(() => accepted > 1, 1000, 10), 'one connection only');
  t.equal(accepted, 1);
});
