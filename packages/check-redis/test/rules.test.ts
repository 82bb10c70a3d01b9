// checkredis's decisions over what a pass saw (ROLE and Sentinel replies), no Redis needed;
// checkredis.integration.test.ts runs each scenario on real servers and sentinels.
import t from 'tap';
import { chooseMaster, masterEntry, parseRole, proxyportProblem, RedisReplyError, sentinelReplicas, withServers, type RoleInfo } from '@confd-haproxy/check-redis';

const a = { host: '10.0.0.1', port: 6379 };
const b = { host: '10.0.0.2', port: 6379 };
const c = { host: '10.0.0.3', port: 6379 };

t.test('ROLE replies are read as master, replica (with its link) or sentinel', async (t) => {
  t.same(parseRole(['master', 10, [['127.0.0.1', '7001', '10']]]), { role: 'master', replicas: [{ host: '127.0.0.1', port: 7001 }] });
  t.same(parseRole(['slave', '127.0.0.1', 7000, 'connected', 10]), { role: 'slave', master: { host: '127.0.0.1', port: 7000 }, link: 'connected' });
  t.same(parseRole(['sentinel', ['mymaster']]), { role: 'sentinel' });
  t.equal(parseRole('OK'), 'ROLE answered something else');
});

t.test('the choice: one master wins, none or two keep the entry, and a sentinel answer must agree with ROLE', async (t) => {
  const roles = (ra: RoleInfo['role'], rb: RoleInfo['role']) => new Map<string, RoleInfo>([['10.0.0.1:6379', { role: ra }], ['10.0.0.2:6379', { role: rb }]]);
  t.same(chooseMaster([a, b], roles('slave', 'master')).master, b);
  t.match(chooseMaster([a, b], roles('slave', 'slave')), { master: undefined, problem: /no server answers ROLE as master/ });
  t.match(chooseMaster([a, b], roles('master', 'master')), { master: undefined, splitBrain: true, problem: /split-brain: 10.0.0.1:6379 and 10.0.0.2:6379/ });
  t.same(chooseMaster([a, b], roles('master', 'master'), { asked: true, master: a }).master, a, 'with sentinels, the one they name');
  t.match(chooseMaster([a, b], roles('slave', 'master'), { asked: true, master: a }), { master: undefined, problem: /sentinel names 10.0.0.1:6379 but ROLE there says slave/ });
  t.match(chooseMaster([b], roles('master', 'master'), { asked: true, master: a }), { master: undefined, problem: /ROLE there says nothing/ });
  t.match(chooseMaster([a, b], roles('master', 'slave'), { asked: true, error: 'connection refused' }), { master: undefined, problem: /no sentinel named a master \(connection refused\)/ });
});

t.test('the default proxyport clears Sentinel, the cluster bus and the servers', async (t) => {
  t.equal(proxyportProblem(11379, [{ host: 'a', port: 6379 }]), undefined);
  t.match(proxyportProblem(26379, [{ host: 'a', port: 6379 }]), /Sentinel/);
  t.match(proxyportProblem(16379, [{ host: 'a', port: 6379 }]), /cluster bus/);
  t.match(proxyportProblem(6380, [{ host: 'a', port: 6379 }, { host: 'b', port: 6380 }]), /the server b:6380/);
  t.match(proxyportProblem(5000, [], [{ host: 's', port: 5000 }]), /sentinel s:5000/);
});

t.test('an error reply to ROLE is the reason, and an unknown role is not a server that serves', async (t) => {
  t.equal(parseRole(new RedisReplyError('NOAUTH Authentication required.')), 'NOAUTH Authentication required.');
  t.same(parseRole(['leader']), { role: 'unknown' });
  t.same(parseRole(['master', 0, 'garbage']), { role: 'master', replicas: [] }, 'a master whose replica list is not a list has none');
});

t.test('with sentinels, a second server claiming master is reported beside the named one, which is kept', async (t) => {
  const roles = new Map<string, RoleInfo>([['10.0.0.1:6379', { role: 'master' }], ['10.0.0.2:6379', { role: 'master' }]]);
  t.match(chooseMaster([a, b], roles, { asked: true, master: b }), { master: b, problem: '10.0.0.1:6379 also claim master; sentinel names 10.0.0.2:6379' });
  t.notOk(chooseMaster([a, b], roles, { asked: true, master: b }).splitBrain, 'Sentinel decides: not split-brain');
});

t.test('a server that is not eligible this pass is never the master, whatever it answered', async (t) => {
  const roles = new Map<string, RoleInfo>([['10.0.0.1:6379', { role: 'master' }], ['10.0.0.2:6379', { role: 'slave' }]]);
  t.match(chooseMaster([b], roles), { master: undefined, problem: /no server answers ROLE as master/ });
});

t.test('the entry serves the master alone, or with the others as backups, and keeps its proxyport', async (t) => {
  t.same(masterEntry({ tag: 'sessions', master: b, others: [], proxyport: 11379 }), {
    name: 'sessions',
    host: '10.0.0.2',
    port: 6379,
    proxyport: 11379,
    servers: [{ host: '10.0.0.2', port: 6379, weight: 100, role: 'active' }],
  });
  const withBackups = masterEntry({ tag: 'sessions', master: b, others: [a, b, c], proxyport: 11379 });
  t.same(
    withBackups.servers.map((s) => `${s.host} ${s.role}`),
    ['10.0.0.2 active', '10.0.0.1 backup', '10.0.0.3 backup'],
    'the master first, never twice, the others in order',
  );
});

t.test("Sentinel's replica list gives their addresses; entries without ip or port are skipped", async (t) => {
  t.same(sentinelReplicas([['ip', '10.0.0.2', 'port', '6379', 'flags', 'slave'], ['name', 'x'], ['ip', '10.0.0.3', 'port', '6380']]), [b, { host: '10.0.0.3', port: 6380 }]);
  t.same(sentinelReplicas(new RedisReplyError('ERR No such master with that name')), []);
});

t.test('the servers asked are the configured ones, then the ones Sentinel found, each once', async (t) => {
  t.same(withServers([a, b], [b, c, a]), [a, b, c]);
  t.same(withServers([a, a], []), [a]);
});
