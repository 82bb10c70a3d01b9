// checkmysqlslave's rules, one by one, over what a pass saw (checkmysqlslave.integration.test.ts
// runs the same decisions against real MariaDB replicas).
import t from 'tap';
import { candidates, chooseReplica, dumpThreadHosts, replicaHealth, reportedReplicas } from '@confd-haproxy/check-mysql';

const master = { host: 'db-master', port: 3306 };
const rule = { master, maxLag: 10 };
const healthy = { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes', Master_Host: 'db-master', Master_Port: 3306, Seconds_Behind_Master: 0 };
const r1 = { host: '10.0.0.1', port: 3306 };
const r2 = { host: '10.0.0.2', port: 3306 };
const r3 = { host: '10.0.0.3', port: 3307 };
const choice = (over: Partial<Parameters<typeof chooseReplica>[0]>) => chooseReplica({ tag: 'db', proxyport: 13306, master, masterFallback: true, eligible: [], current: undefined, ...over });
const servers = (c: ReturnType<typeof chooseReplica>) => c.entry?.servers.map((s) => `${s.host}:${s.port} ${s.role}`);

t.test('a replica serves when both threads run, it follows the master and its lag is within max-lag', async (t) => {
  t.same(replicaHealth(healthy, rule), { ok: true });
  t.same(replicaHealth({ ...healthy, Seconds_Behind_Master: 10 }, rule), { ok: true }, 'max-lag itself is still served');
  t.same(replicaHealth({ ...healthy, Master_Host: 'DB-MASTER' }, rule), { ok: true }, 'host names compare without case');
});

t.test('each reason a replica does not serve is named', async (t) => {
  t.same(replicaHealth(undefined, rule), { ok: false, reason: 'not a replica (SHOW SLAVE STATUS is empty)' });
  t.same(replicaHealth({ ...healthy, Slave_IO_Running: 'Connecting' }, rule), { ok: false, reason: 'IO thread not running (Connecting)' });
  t.same(replicaHealth({ ...healthy, Slave_SQL_Running: 'No' }, rule), { ok: false, reason: 'SQL thread not running (No)' });
  t.same(replicaHealth({ ...healthy, Master_Host: 'other' }, rule), { ok: false, reason: 'replicates from other:3306, not db-master:3306' });
  t.same(replicaHealth({ ...healthy, Master_Port: 3307 }, rule), { ok: false, reason: 'replicates from db-master:3307, not db-master:3306' });
  t.same(replicaHealth({ ...healthy, Seconds_Behind_Master: null }, rule), { ok: false, reason: 'lag unknown (Seconds_Behind_Master is NULL)' });
  t.same(replicaHealth({ ...healthy, Seconds_Behind_Master: 11 }, rule), { ok: false, reason: 'lag 11 s above 10 s' });
});

t.test('the master names its replicas by report_host and report_port; rows without them are skipped', async (t) => {
  t.same(reportedReplicas([{ Host: '10.0.0.1', Port: 3306 }, { Host: '', Port: 3306 }, { Host: '10.0.0.9', Port: 0 }]), [r1]);
});

t.test("the original's last resort: each Binlog Dump thread's client host, on the master's port", async (t) => {
  const rows = [
    { Command: 'Binlog Dump', Host: '10.0.0.1:52114' },
    { Command: 'Binlog Dump GTID', Host: '10.0.0.2:40022' },
    { Command: 'Query', Host: '10.0.0.7:1234' },
  ];
  t.same(dumpThreadHosts(rows, 3306), [r1, r2]);
});

t.test('candidates are listed once each and never include the master', async (t) => {
  t.same(candidates([r1, r2, { ...r1 }, master, r3], master), [r1, r2, r3]);
});

t.test('the current replica stays while it is eligible, so a healthy set never flaps', async (t) => {
  const c = choice({ eligible: [r1, r2, r3], current: r2 });
  t.match(c.entry, { name: 'db', host: r2.host, port: r2.port, proxyport: 13306 });
  t.same(servers(c), ['10.0.0.2:3306 active', '10.0.0.1:3306 active', '10.0.0.3:3307 active'], 'every eligible replica serves, the chosen one first');
});

t.test('when the current replica is no longer eligible the first eligible one takes over', async (t) => {
  t.match(choice({ eligible: [r3, r1], current: r2 }).entry, { host: r3.host, port: r3.port });
  t.match(choice({ eligible: [r1, r2] }).entry, { host: r1.host }, 'with no entry yet, the first eligible');
});

t.test('with no healthy replica the entry points at the master, or is left alone with the fallback off', async (t) => {
  const c = choice({ eligible: [], current: r1 });
  t.match(c.entry, { host: master.host, port: master.port });
  t.same(servers(c), ['db-master:3306 active']);
  t.same(choice({ eligible: [], current: r1, masterFallback: false }), {}, 'no entry: the stored one stays');
});
