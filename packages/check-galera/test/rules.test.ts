// pxcScheduler's rules, one by one, over what a pass saw (no cluster needed for the choice itself;
// galera.integration.test.ts runs each scenario on a real three-node cluster).
import t from 'tap';
import { assignRoles, healthOf, parseGaleraConfig, type GaleraClusterConfig, type NodeStatus, type NodeView } from '@confd-haproxy/check-galera';

const synced: NodeStatus = { state: 4, comment: 'Synced', clusterStatus: 'Primary', ready: true, connected: true, rejectQueries: 'NONE', readOnly: false, segment: 0, clusterSize: 3 };

function cluster(extra = '', nodes = [{ w: 1000 }, { w: 999 }, { w: 998 }]): GaleraClusterConfig {
  const text = `[cluster.main]\nuser = "monitor"\n${extra}\n${nodes.map((n, i) => `[[cluster.main.node]]\nhost = "10.0.0.${i + 1}"\nport = 3306\nwriterWeight = ${n.w}\n`).join('')}`;
  return parseGaleraConfig('galera.toml', text).clusters[0]!;
}
const view = (cfg: GaleraClusterConfig, i: number, v: Partial<NodeView> = {}): NodeView => ({ ...cfg.nodes[i]!, health: 'ok', eligible: true, maint: false, readOnly: false, segment: 0, ...v });
const views = (cfg: GaleraClusterConfig, over: Record<number, Partial<NodeView>> = {}) => cfg.nodes.map((_, i) => view(cfg, i, over[i]));
const hosts = (vs: { host: string }[]) => vs.map((v) => v.host);
const roles = (r: { readers: { host: string; role: string }[] }) => r.readers.map((x) => `${x.host} ${x.role}`);

t.test('a node serves only when Synced, Primary, ready, connected and accepting queries; a Donor is drained', async (t) => {
  t.same(healthOf(synced), { health: 'ok' });
  t.match(healthOf({ ...synced, state: 2, comment: 'Donor/Desynced' }), { health: 'donor', reason: 'wsrep_local_state 2 (Donor/Desynced)' });
  t.match(healthOf({ ...synced, state: 1, comment: 'Joining' }), { health: 'offline', reason: /state 1 \(Joining\)/ });
  t.match(healthOf({ ...synced, clusterStatus: 'non-Primary' }), { health: 'offline', reason: /non-Primary/ });
  t.match(healthOf({ ...synced, ready: false }), { health: 'offline', reason: /wsrep_ready is OFF/ });
  t.match(healthOf({ ...synced, connected: false }), { health: 'offline', reason: /wsrep_connected is OFF/ });
  t.match(healthOf({ ...synced, rejectQueries: 'ALL' }), { health: 'offline', reason: /wsrep_reject_queries is ALL/ });
});

t.test('the writer is the healthy candidate with the highest weight; the others read', async (t) => {
  const cfg = cluster();
  const r = assignRoles(cfg, views(cfg), []);
  t.same(hosts(r.writers), ['10.0.0.1']);
  t.same(roles(r), ['10.0.0.1 active', '10.0.0.2 active', '10.0.0.3 active'], 'writerIsAlsoReader by default');
  const down = assignRoles(cfg, views(cfg, { 0: { health: 'down', eligible: false, reason: 'connection refused' } }), [{ host: '10.0.0.1', port: 3306 }]);
  t.same(hosts(down.writers), ['10.0.0.2'], 'the writer down: the next by weight');
  t.same(roles(down), ['10.0.0.1 maint', '10.0.0.2 active', '10.0.0.3 active']);
  t.same(down.down.map((v) => v.host), ['10.0.0.1']);
});

t.test('without failBack a recovered preferred writer does not take over; with it, it does', async (t) => {
  const current = [{ host: '10.0.0.2', port: 3306 }];
  t.same(hosts(assignRoles(cluster(), views(cluster()), current).writers), ['10.0.0.2']);
  t.same(hosts(assignRoles(cluster('failBack = true'), views(cluster('failBack = true')), current).writers), ['10.0.0.1']);
});

t.test('never two writers with singlePrimary; maxNumWriters without it', async (t) => {
  t.equal(assignRoles(cluster(), views(cluster()), [{ host: '10.0.0.1', port: 3306 }, { host: '10.0.0.2', port: 3306 }]).writers.length, 1, 'two stored writers become one');
  const multi = cluster('singlePrimary = false\nmaxNumWriters = 2');
  t.same(hosts(assignRoles(multi, views(multi), []).writers), ['10.0.0.1', '10.0.0.2']);
  t.throws(() => cluster('maxNumWriters = 2'), { code: 'CHECKER_CONFIG', message: /galera.toml: cluster.main.maxNumWriters: 2 writers with singlePrimary = true/ });
});

t.test('activeFailover: 1 only weighted candidates, 2 any node of the main segment, 3 any segment, 0 none', async (t) => {
  const nodes = [{ w: 1000 }, { w: 0 }, { w: 0 }];
  const firstDown = { 0: { health: 'down' as const, eligible: false } };
  const c1 = cluster('activeFailover = 1', nodes);
  const r1 = assignRoles(c1, views(c1, firstDown), []);
  t.same(r1.writers, [], 'no weighted candidate left');
  t.match(r1.problem, /no writer candidate \(activeFailover 1, main segment 0\): 10.0.0.1:3306 down; 10.0.0.2:3306 writerWeight 0/);
  const c2 = cluster('activeFailover = 2', nodes);
  t.same(hosts(assignRoles(c2, views(c2, firstDown), []).writers), ['10.0.0.2']);
  const c3 = cluster('activeFailover = 3', nodes);
  const seg = { 0: { health: 'down' as const, eligible: false }, 1: { segment: 1 }, 2: { segment: 1 } };
  t.same(hosts(assignRoles(c2, views(c2, seg), []).writers), [], 'activeFailover 2 stays in the main segment');
  t.same(hosts(assignRoles(c3, views(c3, seg), []).writers), ['10.0.0.2'], 'activeFailover 3 crosses segments');
  const c0 = cluster('activeFailover = 0');
  t.same(hosts(assignRoles(c0, views(c0, firstDown), [{ host: '10.0.0.1', port: 3306 }]).writers), ['10.0.0.1'], 'activeFailover 0 never moves the writer');
});

t.test('a Donor is drained, except as the last node of the main segment', async (t) => {
  const cfg = cluster();
  const r = assignRoles(cfg, views(cfg, { 1: { health: 'donor', eligible: false, reason: 'wsrep_local_state 2 (Donor/Desynced)' } }), []);
  t.same(roles(r), ['10.0.0.1 active', '10.0.0.2 drain', '10.0.0.3 active']);
  t.same(hosts(r.drained), ['10.0.0.2']);
  const last = assignRoles(cfg, views(cfg, { 0: { health: 'donor', eligible: false, reason: 'Donor' }, 1: { segment: 1 }, 2: { segment: 1 } }), []);
  t.same(hosts(last.writers), ['10.0.0.1'], 'the last node of the main segment keeps writing');
  t.equal(last.lastInSegment?.host, '10.0.0.1');
  t.same(roles(last), ['10.0.0.1 active', '10.0.0.2 backup', '10.0.0.3 backup'], 'other segments read as backups');
  t.same(last.drained, []);
});

t.test('read_only nodes read but never write; maintenance nodes do neither', async (t) => {
  const cfg = cluster();
  const ro = assignRoles(cfg, views(cfg, { 0: { readOnly: true } }), [{ host: '10.0.0.1', port: 3306 }]);
  t.same(hosts(ro.writers), ['10.0.0.2']);
  t.same(roles(ro), ['10.0.0.1 active', '10.0.0.2 active', '10.0.0.3 active']);
  const m = assignRoles(cfg, views(cfg, { 0: { maint: true } }), [{ host: '10.0.0.1', port: 3306 }]);
  t.same(hosts(m.writers), ['10.0.0.2']);
  t.same(roles(m), ['10.0.0.1 maint', '10.0.0.2 active', '10.0.0.3 active']);
  t.same(hosts(m.maintenance), ['10.0.0.1']);
});

t.test('writerIsAlsoReader off keeps the writer out of the readers, unless it is the last one', async (t) => {
  const cfg = cluster('writerIsAlsoReader = 0');
  t.same(roles(assignRoles(cfg, views(cfg), [])), ['10.0.0.2 active', '10.0.0.3 active']);
  const alone = assignRoles(cfg, views(cfg, { 1: { health: 'down', eligible: false }, 2: { health: 'down', eligible: false } }), []);
  t.same(roles(alone), ['10.0.0.1 active', '10.0.0.2 maint', '10.0.0.3 maint']);
});

t.test('a bad config file names the file, the key and the problem', async (t) => {
  const bad = (text: string) => t.throws(() => parseGaleraConfig('galera.toml', text), { code: 'CHECKER_CONFIG' });
  const err = (text: string) => {
    try {
      parseGaleraConfig('galera.toml', text);
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  };
  bad('[cluster.main]\nuser = "m"');
  t.match(err('[cluster.main]\nuser = "m"'), /galera.toml: cluster.main.node: no nodes/);
  t.match(err('[cluster.main]\nuser = "m"\n[[cluster.main.node]]\nhost = "a b"'), /cluster.main.node\[0\].host: "a b" is not a host/);
  t.match(err('[cluster.main]\nuser = "m"\nactiveFailover = 7\n[[cluster.main.node]]\nhost = "a"'), /cluster.main.activeFailover: 7 is not a whole number in 0..3/);
  t.match(err('[cluster.main]\nuser = "m"\nfailback = true\n[[cluster.main.node]]\nhost = "a"'), /cluster.main.failback: unknown setting/);
  t.match(err('[cluster.main\n'), /galera.toml: not valid TOML \(line 1/);
  t.match(err('[global]\ndaemonInterval = 2000\n'), /no \[cluster.<name>\] section/);
  const ok = parseGaleraConfig('galera.toml', '[global]\ndaemonInterval = 500\n[cluster.main]\nuser = "m"\n[[cluster.main.node]]\nhost = "a"\n');
  t.match(ok, { daemonInterval: 500, lockClusterTimeout: 15, clusters: [{ name: 'main', writerPort: 13306, readerPort: 13307, activeFailover: 1, failBack: false, checkTimeOut: 4000, mainSegment: 0, singlePrimary: true, maxNumWriters: 1, writerIsAlsoReader: true, retryUp: 0, retryDown: 0, nodes: [{ host: 'a', port: 3306, writerWeight: 1, readerWeight: 100 }] }] });
});
