import t from 'tap';
import { existsSync } from 'node:fs';
import { alive, startGaleraCluster, type GaleraNode } from '@confd-haproxy/testkit';
import { asMonitor, eventually } from './helpers.js';

// One cluster for the whole file: starting it is the slow part.
let started = Date.now();
const cluster = await startGaleraCluster({ nodes: 3 });
t.comment(`three-node cluster synced in ${Date.now() - started} ms`);
let stopped = false;
t.teardown(() => (stopped ? undefined : cluster.stop()));

type Status = Record<string, string>;

async function wsrep(node: GaleraNode): Promise<Status> {
  const rows = await asMonitor<{ Variable_name: string; Value: string }>(node, "SHOW GLOBAL STATUS LIKE 'wsrep%'");
  return Object.fromEntries(rows.map((r) => [r.Variable_name, String(r.Value)]));
}

t.test('three nodes form one Primary component of size 3, all Synced', async (t) => {
  const states = await Promise.all(cluster.nodes.map(wsrep));
  for (const [i, s] of states.entries()) {
    t.match(s, { wsrep_local_state: '4', wsrep_local_state_comment: 'Synced', wsrep_cluster_status: 'Primary', wsrep_cluster_size: '3', wsrep_ready: 'ON' }, `node ${i}`);
  }
  t.equal(new Set(states.map((s) => s.wsrep_cluster_state_uuid)).size, 1, 'one cluster state UUID');
  t.equal(new Set(cluster.nodes.map((n) => n.port)).size, 3, 'three distinct ports');
});

t.test('the monitor user reads wsrep status, global variables and checktest.t on every node', async (t) => {
  for (const node of cluster.nodes) {
    const vars = await asMonitor<{ Variable_name: string; Value: string }>(node, "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'");
    t.same(vars, [{ Variable_name: 'wsrep_on', Value: 'ON' }], `node ${node.index}: wsrep_on`);
    t.same(await asMonitor(node, 'SELECT id FROM checktest.t WHERE id < 0'), [], `node ${node.index}: SELECT on checktest.t`);
  }
});

t.test('a write on node 0 is visible on node 2', async (t) => {
  const [n0, , n2] = cluster.nodes as [GaleraNode, GaleraNode, GaleraNode];
  await n0.query('INSERT INTO checktest.t VALUES (1)');
  // Galera is virtually synchronous: apply on node 2 may lag the commit on node 0 a little.
  let rows: unknown[] = [];
  t.ok(await eventually(async () => (rows = await n2.query('SELECT id FROM checktest.t WHERE id = 1')).length > 0, 5000), 'the row arrives');
  t.same(rows, [{ id: 1 }]);
});

t.test('a desynced node says Donor/Desynced (state 2) and still serves', async (t) => {
  const n1 = cluster.nodes[1]!;
  await n1.query('SET GLOBAL wsrep_desync=ON');
  t.teardown(() => n1.query('SET GLOBAL wsrep_desync=OFF'));
  t.match(await wsrep(n1), { wsrep_local_state: '2', wsrep_local_state_comment: 'Donor/Desynced', wsrep_cluster_size: '3' });
  t.same(await asMonitor(n1, 'SELECT id FROM checktest.t WHERE id = 1'), [{ id: 1 }]);
  await n1.query('SET GLOBAL wsrep_desync=OFF');
  await cluster.waitSynced(undefined, 60_000);
});

t.test('after SIGKILL of node 1 the other two report cluster size 2', async (t) => {
  const [n0, n1, n2] = cluster.nodes as [GaleraNode, GaleraNode, GaleraNode];
  started = Date.now();
  n1.kill('SIGKILL');
  await cluster.waitSynced([n0, n2], 60_000);
  t.comment(`evicted after ${Date.now() - started} ms`);
  t.notOk(alive(n1.pid), 'node 1 is gone');
  for (const node of [n0, n2]) t.match(await wsrep(node), { wsrep_cluster_size: '2', wsrep_cluster_status: 'Primary', wsrep_local_state: '4' }, `node ${node.index}`);
  // Writes go on while node 1 is away; it must catch up on rejoin.
  await n2.query('INSERT INTO checktest.t VALUES (2)');
});

t.test('restart brings the killed node back Synced, with the writes it missed', async (t) => {
  const old = cluster.nodes[1]!;
  started = Date.now();
  const n1 = await cluster.restart(old);
  t.comment(`rejoined after ${Date.now() - started} ms`);
  t.equal(cluster.nodes[1], n1, 'the cluster lists the new handle');
  t.not(n1.pid, old.pid, 'a new process');
  t.equal(n1.port, old.port, 'on the same port');
  await cluster.waitSynced(undefined, 60_000);
  t.match(await wsrep(n1), { wsrep_local_state: '4', wsrep_cluster_size: '3' });
  t.same(await n1.query('SELECT id FROM checktest.t ORDER BY id'), [{ id: 1 }, { id: 2 }]);
});

t.test('stop() leaves no mariadbd and no temp dir', async (t) => {
  const nodes = [...cluster.nodes];
  await cluster.stop();
  stopped = true;
  for (const node of nodes) {
    t.notOk(alive(node.pid), `pid ${node.pid} is gone`);
    t.notOk(existsSync(node.dir), `${node.dir} is removed`);
  }
});
