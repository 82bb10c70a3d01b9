// Event-driven detection on real memcached: the checker's kept connection closing is news, so
// the server is probed again at once; the interval here is a minute, so only a re-probe can
// explain a decision within the test's bounded waits.
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, runTagChecker, type PassReport } from '@confd-haproxy/checker';
import { memcachedKind, type SaslCredentials } from '@confd-haproxy/check-memcached';
import { quiet, type ServiceHandle, startMemcached } from '@confd-haproxy/testkit';

const LONG_INTERVAL_MS = 60_000;

async function pair(t: Test, sasl?: SaslCredentials): Promise<[ServiceHandle, ServiceHandle]> {
  const [a, b] = await Promise.all([startMemcached(sasl ? { sasl } : {}), startMemcached(sasl ? { sasl } : {})]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  return [a, b];
}

/** A checker loop at a one-minute interval (logging in with `sasl` when given); its reports in order. */
function loop(t: Test, servers: ServiceHandle[], retryDown: number, sasl?: SaslCredentials) {
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  // A first SASL login costs tens of ms, more on a loaded machine: a deadline it cannot miss.
  const timeoutMs = sasl ? 2000 : 500;
  const kind = memcachedKind({ tag: 'mem', servers: servers.map((m) => ({ host: m.host, port: m.port })), ...(sasl ? { sasl, timeoutMs } : {}) });
  const checker = new TagChecker({ tag: 'mem', kind, store, logger: quiet, checker: 'test:1', timeoutMs, retryUp: 1, retryDown, lockTtlMs: 5000, noLock: true });
  const reports: PassReport[] = [];
  const ac = new AbortController();
  const running = runTagChecker(checker, { intervalMs: LONG_INTERVAL_MS, signal: ac.signal, onPass: (r) => reports.push(r) });
  t.teardown(async () => {
    ac.abort();
    await running;
    await store.close();
  });
  return { checker, reports };
}

/** Wait (bounded) for a report that matches; undefined when none came. */
async function reportWhere(reports: PassReport[], match: (r: PassReport) => boolean, ms = 10_000): Promise<PassReport | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const found = reports.find(match);
    if (found) return found;
    await new Promise((done) => setTimeout(done, 10));
  }
  return undefined;
}

t.test('a killed active server is probed again at once and replaced, without waiting for the interval', async (t) => {
  const [a, b] = await pair(t);
  const { reports } = loop(t, [a, b], 1);
  const first = await reportWhere(reports, (r) => r.trigger === 'interval' && r.wrote);
  t.equal(first?.entry?.port, a.port, 'the first pass chose the first server');
  a.kill('SIGKILL');
  const moved = await reportWhere(reports, (r) => r.trigger === 'connection-lost' && r.wrote);
  t.ok(moved, 'a re-probe decided');
  t.equal(moved?.entry?.port, b.port, 'the entry moved to the healthy server');
  t.same(moved?.results.map((x) => [x.target.port, x.result.ok]), [[a.port, false]], 'only the server whose connection closed was probed');
  t.equal(reports.filter((r) => r.trigger === 'interval').length, 1, 'no second interval pass was needed');
});

t.test('a kept SASL connection (memjs) that closes is probed again at once too', async (t) => {
  const login = { user: 'probe', password: 'secret' };
  const [a, b] = await pair(t, login);
  const { reports } = loop(t, [a, b], 1, login);
  const first = await reportWhere(reports, (r) => r.trigger === 'interval' && r.wrote);
  t.equal(first?.entry?.port, a.port, 'the first pass logged in and chose the first server');
  a.kill('SIGKILL');
  const moved = await reportWhere(reports, (r) => r.trigger === 'connection-lost' && r.wrote);
  t.equal(moved?.entry?.port, b.port, 'a re-probe moved the entry to the healthy server');
  t.equal(reports.filter((r) => r.trigger === 'interval').length, 1, 'no second interval pass was needed');
});

t.test('retry-down is honoured: a failed re-probe is one failure, and the entry moves only at the count', async (t) => {
  const [a, b] = await pair(t);
  const { checker, reports } = loop(t, [a, b], 2);
  t.ok(await reportWhere(reports, (r) => r.trigger === 'interval' && r.wrote), 'the first pass wrote');
  a.kill('SIGKILL');
  const reprobe = await reportWhere(reports, (r) => r.trigger === 'connection-lost');
  t.match(reprobe?.results[0], { target: { port: a.port }, result: { ok: false } }, 'the re-probe failed');
  t.equal(reprobe?.wrote, false, 'one failure of two does not move the entry');
  t.equal(reprobe?.entry?.port, a.port);
  const second = await checker.pass();
  t.equal(second.wrote, true, 'the second failure in a row does');
  t.equal(second.entry?.port, b.port);
});

t.test('a server restarted in place is re-probed on its new process and the entry never flaps', async (t) => {
  const [a, b] = await pair(t);
  const { checker, reports } = loop(t, [a, b], 2);
  t.ok(await reportWhere(reports, (r) => r.trigger === 'interval' && r.wrote), 'the first pass wrote');
  a.kill('SIGKILL');
  t.ok(await reportWhere(reports, (r) => r.trigger === 'connection-lost'), 'the closed connection was re-probed');
  const again = await startMemcached({ port: a.port });
  t.teardown(() => again.stop());
  const back = await checker.pass();
  t.match(back.results.find((x) => x.target.port === a.port)?.result, { ok: true }, 'the restarted server answers on a new connection');
  t.equal(back.entry?.port, a.port, 'the entry still points at it');
  t.equal(reports.filter((r) => r.wrote).length, 1, 'nothing was written after the first pass');
});

t.test('connections the checker closes itself, and servers that refuse, cause no re-probe storm', async (t) => {
  const [a, b] = await pair(t);
  const { reports } = loop(t, [a, b], 1);
  t.ok(await reportWhere(reports, (r) => r.trigger === 'interval' && r.wrote), 'the first pass wrote');
  a.kill('SIGKILL');
  t.ok(await reportWhere(reports, (r) => r.trigger === 'connection-lost' && r.wrote), 'the kill was acted on');
  // A refused re-probe has no connection to lose: nothing more may come until the next interval.
  await new Promise((done) => setTimeout(done, 300));
  t.equal(reports.filter((r) => r.trigger === 'connection-lost').length, 1, 'one re-probe for one closed connection');
});
