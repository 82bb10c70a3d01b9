import t from 'tap';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { alive, startMemcached, startReplicationSet, MONITOR } from '@confd-haproxy/testkit';
import mysql from 'mysql2/promise';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a replication set replicates, lists its replicas, and stops without leftovers', async (t) => {
  const set = await startReplicationSet({ replicas: 2 });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : set.stop()));
  const hosts = await set.primary.query<{ Port: number }>('SHOW SLAVE HOSTS');
  t.same(hosts.map((h) => h.Port).sort(), set.replicas.map((r) => r.port).sort(), 'SHOW SLAVE HOSTS lists both report ports');
  await set.primary.query('CREATE TABLE checktest.t (id INT PRIMARY KEY)');
  await set.primary.query('INSERT INTO checktest.t VALUES (42)');
  for (const r of set.replicas) {
    let rows: { id: number }[] = [];
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      rows = await r.query<{ id: number }>('SELECT id FROM checktest.t').catch(() => []);
      if (!rows.length) await sleep(100);
    }
    t.same(rows, [{ id: 42 }], `replica ${r.port} has the write`);
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: r.port, ...MONITOR, connectTimeout: 3000 });
    const [status] = (await conn.query('SHOW SLAVE STATUS')) as unknown as [{ Slave_IO_Running: string; Slave_SQL_Running: string }[]];
    await conn.end();
    t.match(status[0], { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' }, 'the monitor user can read SHOW SLAVE STATUS over TCP');
  }
  const all = [set.primary, ...set.replicas];
  await set.stop();
  stopped = true;
  for (const h of all) {
    t.notOk(alive(h.pid), `pid ${h.pid} is gone`);
    t.notOk(existsSync(h.dir), `${h.dir} is removed`);
  }
});

t.test('memcached answers version and is stopped by pid', async (t) => {
  const m = await startMemcached();
  const reply = await new Promise<string>((done, fail) => {
    const s = connect({ host: '127.0.0.1', port: m.port }, () => s.write('version\r\n'));
    s.once('data', (d) => {
      done(d.toString());
      s.destroy();
    });
    s.once('error', fail);
  });
  t.match(reply, /^VERSION \d/);
  await m.stop();
  t.notOk(alive(m.pid));
});
