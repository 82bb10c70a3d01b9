// MariaDB through the whole system: a primary and two GTID replicas, checkmysqlslave's loop, the
// store, the renderer in watch mode and HAProxy. A client asks the server behind the proxyport
// `SELECT @@port`; the replica it reaches is killed; the next connections reach the other one.
import t from 'tap';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { TagChecker, runTagChecker } from '@confd-haproxy/checker';
import { mysqlKind, tagConfig } from '@confd-haproxy/check-mysql';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch } from '@confd-haproxy/renderer';
import { freePort, MONITOR, quiet, startRenderedHAProxy, startReplicationSet } from '@confd-haproxy/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function portBehind(proxyport: number): Promise<number | undefined> {
  try {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: proxyport, ...MONITOR, connectTimeout: 1000 });
    try {
      const [rows] = (await c.query({ sql: 'SELECT @@port AS port', timeout: 1000 })) as unknown as [{ port: number }[]];
      return rows[0]?.port;
    } finally {
      c.destroy();
    }
  } catch {
    return undefined;
  }
}

t.test('clients of the proxyport follow the healthy replica when the one they use is killed', async (t) => {
  const set = await startReplicationSet({ replicas: 2 });
  t.teardown(() => set.stop());
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/mysqlslave'], runtimeApi: true });
  t.teardown(() => stack.stop());
  const dir = stack.dir;
  const proxyport = await freePort();
  const config = tagConfig('db.conf', { slave: { host: '127.0.0.1', port: String(set.primary.port), user: MONITOR.user, password: MONITOR.password, proxyport: String(proxyport) } }, 'slave');
  const file = join(dir, 'kv.json');
  const s1 = createFileStore({ file, pollMs: 200 });
  const s2 = createFileStore({ file, pollMs: 200 });
  const kind = mysqlKind({ config, maxLag: 30, timeoutMs: 300, masterFallback: true });
  const checker = new TagChecker({ tag: 'slave', kind, store: s1, logger: quiet, checker: 'e2e:1', timeoutMs: 300, retryUp: 2, retryDown: 1, lockTtlMs: 10_000 });
  const ac = new AbortController();
  const loops = [
    runTagChecker(checker, { intervalMs: 250, signal: ac.signal }),
    runWatch({ store: s2, confdir: dir, logger: quiet, signal: ac.signal, env: stack.env, wait: { minMs: 20, maxMs: 300 } }),
  ];
  t.teardown(async () => {
    ac.abort();
    await Promise.all(loops);
    await s1.close();
    await s2.close();
  });
  const replicaPorts = set.replicas.map((r) => r.port);
  let first: number | undefined;
  for (let i = 0; i < 200 && !(first && replicaPorts.includes(first)); i++) {
    first = await portBehind(proxyport);
    if (!first) await sleep(50);
  }
  t.ok(first && replicaPorts.includes(first), `clients reach a replica (port ${first}), not the primary`);
  const victim = set.replicas.find((r) => r.port === first)!;
  const other = set.replicas.find((r) => r.port !== first)!;
  victim.kill('SIGKILL');
  const killed = Date.now();
  let now: number | undefined;
  for (let i = 0; i < 300 && now !== other.port; i++) {
    now = await portBehind(proxyport);
    if (now !== other.port) await sleep(50);
  }
  t.equal(now, other.port, `after the kill, clients reach the other replica (${Date.now() - killed} ms)`);
});
