import t from 'tap';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import mysql from 'mysql2/promise';
import { alive, freePort, startMariaDB, startReplicationSet, LauncherError } from '@confd-haproxy/testkit';
import { asMonitor, eventually } from './helpers.js';

// One replication set for the whole file: it is the slow part.
const set = await startReplicationSet({ replicas: 2 });
let stopped = false;
t.teardown(() => (stopped ? undefined : set.stop()));
const { primary, replicas } = set;

t.test('a write on the primary is visible on both replicas', async (t) => {
  await primary.query('CREATE TABLE checktest.t (id INT PRIMARY KEY)');
  await primary.query('INSERT INTO checktest.t VALUES (42)');
  for (const r of replicas) {
    let rows: unknown[] = [];
    await eventually(async () => (rows = await r.query('SELECT id FROM checktest.t').catch(() => [])).length > 0);
    t.same(rows, [{ id: 42 }], `replica ${r.port} has the row`);
  }
});

t.test('SHOW SLAVE HOSTS on the primary lists both replicas by report port', async (t) => {
  const hosts = await asMonitor<{ Host: string; Port: number }>(primary, 'SHOW SLAVE HOSTS');
  t.same(hosts.map((h) => h.Port).sort(), replicas.map((r) => r.port).sort());
  t.same([...new Set(hosts.map((h) => h.Host))], ['127.0.0.1'], 'report_host is loopback');
});

t.test('the monitor user reads SHOW SLAVE STATUS over TCP on each replica', async (t) => {
  for (const r of replicas) {
    const [status] = await asMonitor<Record<string, unknown>>(r, 'SHOW SLAVE STATUS');
    t.match(status, { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_Port: primary.port, Using_Gtid: 'Slave_Pos' }, `replica ${r.port}`);
  }
});

t.test('root stays socket-only while admin works over TCP', async (t) => {
  await t.rejects(mysql.createConnection({ host: '127.0.0.1', port: primary.port, user: 'root', connectTimeout: 3000 }), 'root over TCP is refused');
  t.match(await primary.query('SELECT CURRENT_USER() AS u'), [{ u: 'admin@127.0.0.1' }]);
  t.match(await primary.socketSql('SELECT CURRENT_USER()'), /root@localhost/);
});

t.test('a mariadbd that dies at start fails fast with its error log and leaves no temp dir', async (t) => {
  // The extra port= line overrides the launcher's: the server cannot bind it and exits.
  const busy = createServer();
  const port = await freePort();
  await new Promise<void>((r) => busy.listen(port, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => busy.close(() => r())));
  const err = await startMariaDB({ extra: [`port=${port}`] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof LauncherError);
  t.match(err, { code: 'EXITED', message: /mariadbd[\s\S]*exited during start[\s\S]*(Address already in use|Bind on TCP\/IP port)/ });
  const dir = /(\/\S+)\/error\.log/.exec((err as Error).message)?.[1];
  t.ok(dir, 'the message names the log');
  t.notOk(dir && existsSync(dir), `${dir} is removed`);
});

t.test('stop() leaves no mariadbd and no temp dir', async (t) => {
  const all = [primary, ...replicas];
  await set.stop();
  stopped = true;
  for (const h of all) {
    t.notOk(alive(h.pid), `pid ${h.pid} is gone`);
    t.notOk(existsSync(h.dir), `${h.dir} is removed`);
  }
});
