import t from 'tap';
import type { Test } from 'tap';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, type CheckerLogger } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { startMemcached, type ServiceHandle } from '@confd-haproxy/testkit';

const mems: ServiceHandle[] = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
t.teardown(() => Promise.all(mems.map((m) => m.stop())));
const servers = mems.map((m) => ({ host: m.host, port: m.port }));
const logger = (lines: string[] = []): CheckerLogger => ({ debug: () => {}, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) });

function checker(t: Test, file: string, opts: { retryUp?: number; retryDown?: number; lines?: string[]; servers?: typeof servers; name?: string } = {}) {
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  return new TagChecker({
    tag: 'mem11211',
    kind: memcachedKind({ tag: 'mem11211', servers: opts.servers ?? servers }),
    store,
    logger: logger(opts.lines),
    checker: opts.name ?? 'test:1',
    timeoutMs: 300,
    retryUp: opts.retryUp ?? 2,
    retryDown: opts.retryDown ?? 1,
    lockTtlMs: 1500,
  });
}
const signal = new AbortController().signal;

t.test('the first healthy server becomes active, the others backups, and a steady state writes nothing', async (t) => {
  const lines: string[] = [];
  const c = checker(t, join(t.testdir({}), 'kv.json'), { lines });
  const first = await c.pass(signal);
  t.equal(first.wrote, true);
  t.match(first.entry, { name: 'mem11211', host: '127.0.0.1', port: servers[0]!.port, proxyport: servers[0]!.port + 5000, version: 1, checker: 'test:1' });
  t.same(first.entry!.servers.map((s) => s.role), ['active', 'backup', 'backup']);
  t.ok(lines.includes(`set new alive 127.0.0.1:${servers[0]!.port} with tag mem11211 ok`), 'the original log line');
  const second = await c.pass(signal);
  t.equal(second.wrote, false, 'no write when nothing changed');
  t.ok(lines.includes(`current 127.0.0.1:${servers[0]!.port} is ok`));
});

/** memcached's own count of connections ever accepted (read over a connection of its own). */
function totalConnections(port: number): Promise<number> {
  return new Promise((done, fail) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    s.setTimeout(2000, () => {
      s.destroy();
      fail(new Error('stats timed out'));
    });
    s.on('error', fail);
    s.on('connect', () => s.write('stats\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (!buf.endsWith('END\r\n')) return;
      s.destroy();
      done(Number(/STAT total_connections (\d+)/.exec(buf)?.[1]));
    });
  });
}

t.test('probes reuse one kept connection per server', async (t) => {
  const c = checker(t, join(t.testdir({}), 'kv.json'));
  await c.pass(signal);
  const before = await totalConnections(servers[0]!.port);
  for (let i = 0; i < 5; i++) t.equal((await c.pass(signal)).results[0]?.result.ok, true);
  t.equal((await totalConnections(servers[0]!.port)) - before, 1, 'only the stats reading itself connected again');
});

t.test('a killed active server is replaced by the next healthy one', async (t) => {
  const extra = await startMemcached();
  t.teardown(() => extra.stop());
  const list = [{ host: extra.host, port: extra.port }, servers[1]!];
  const c = checker(t, join(t.testdir({}), 'kv.json'), { servers: list });
  t.equal((await c.pass(signal)).entry?.port, extra.port);
  extra.kill('SIGKILL');
  const r = await c.pass(signal);
  t.equal(r.wrote, true);
  t.equal(r.entry?.port, servers[1]!.port, 'moved to the healthy server');
  t.match(r.results.find((x) => x.target.port === extra.port)?.result, { ok: false, reason: /refused|closed|ECONNRESET/ });
});

t.test('a hung (SIGSTOPped) active server fails within the timeout and is replaced', async (t) => {
  const hung = await startMemcached();
  t.teardown(async () => {
    hung.kill('SIGCONT');
    await hung.stop();
  });
  const list = [{ host: hung.host, port: hung.port }, servers[2]!];
  const c = checker(t, join(t.testdir({}), 'kv.json'), { servers: list });
  t.equal((await c.pass(signal)).entry?.port, hung.port);
  hung.kill('SIGSTOP');
  const started = Date.now();
  const r = await c.pass(signal);
  // A stopped server never answers: the pass ended by the 300 ms deadline, which the reason names.
  t.comment(`the pass took ${Date.now() - started} ms (timeout 300 ms)`);
  t.equal(r.entry?.port, servers[2]!.port);
  t.match(r.results[0]?.result, { ok: false, reason: /300 ms|timed out/ });
});

t.test('retry-down and retry-up are honoured', async (t) => {
  const flaky = await startMemcached();
  t.teardown(async () => {
    flaky.kill('SIGCONT');
    await flaky.stop();
  });
  const list = [{ host: flaky.host, port: flaky.port }, servers[0]!];
  const c = checker(t, join(t.testdir({}), 'kv.json'), { servers: list, retryDown: 2, retryUp: 3 });
  await c.pass(signal);
  flaky.kill('SIGSTOP');
  t.equal((await c.pass(signal)).entry?.port, flaky.port, 'one failure is not enough with retry-down 2');
  t.equal((await c.pass(signal)).entry?.port, servers[0]!.port, 'the second moves away');
  flaky.kill('SIGCONT');
  t.notOk((await c.pass(signal)).eligible.some((x) => x.port === flaky.port), 'not eligible after 1 success');
  t.notOk((await c.pass(signal)).eligible.some((x) => x.port === flaky.port), 'nor after 2');
  t.ok((await c.pass(signal)).eligible.some((x) => x.port === flaky.port), 'eligible after 3 (retry-up)');
});

t.test('every server down keeps the entry as it is', async (t) => {
  const a = await startMemcached();
  const c = checker(t, join(t.testdir({}), 'kv.json'), { servers: [{ host: a.host, port: a.port }] });
  const before = (await c.pass(signal)).entry;
  await a.stop();
  const r = await c.pass(signal);
  t.equal(r.wrote, false);
  t.same(r.entry, before);
});

t.test('two checkers on one tag: one writer, no flapping, and the standby takes over when the holder goes', async (t) => {
  const file = join(t.testdir({}), 'kv.json');
  const a = checker(t, file, { name: 'host-a:1' });
  const b = checker(t, file, { name: 'host-b:2' });
  let writes = 0;
  for (let i = 0; i < 5; i++) {
    const [ra, rb] = await Promise.all([a.pass(signal), b.pass(signal)]);
    writes += Number(ra.wrote) + Number(rb.wrote);
    t.ok(ra.holder !== rb.holder, `pass ${i}: exactly one holds the lock`);
  }
  t.equal(writes, 1, 'the entry was written once');
  const holder = a.holder ? a : b;
  const standby = a.holder ? b : a;
  await holder.release();
  const r = await standby.pass(signal);
  t.equal(r.holder, true, 'the standby took the lock');
});
