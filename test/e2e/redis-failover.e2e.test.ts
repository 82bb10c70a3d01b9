// Redis behind HAProxy on real processes: a primary and a replica, checkredis's loop, the renderer
// in watch mode with the shipped redis partial, HAProxy in master-worker mode. Clients write through
// the proxyport; the primary is killed and the replica promoted; writes through the same port land
// on the new master. With requirepass set, HAProxy's own check still sees the servers as up.
import t from 'tap';
import { redisKind, RedisConnection, RedisReplyError } from '@confd-haproxy/check-redis';
import { runtimeCommand } from '@confd-haproxy/runner';
import { freePort, startRedisSet } from '@confd-haproxy/testkit';
import { eventuallyAnswers, startSystem } from './system.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PASSWORD = 'e2e-pw';

/** Through the proxyport: AUTH, SET, then INFO server's tcp_port (who answered), or the error. */
async function writeThrough(port: number, value: string): Promise<number | string> {
  const c = new RedisConnection({ host: '127.0.0.1', port, password: PASSWORD });
  const signal = AbortSignal.timeout(1000);
  try {
    const set = await c.command(['SET', 'k', value], signal);
    if (set instanceof RedisReplyError) return set.message;
    const info = await c.command(['INFO', 'server'], signal);
    return Number(/tcp_port:(\d+)/.exec(String(info))?.[1]);
  } catch (err) {
    return (err as Error).message;
  } finally {
    c.close();
  }
}

t.test('writes through HAProxy follow the promoted replica', async (t) => {
  const set = await startRedisSet({ replicas: 1, password: PASSWORD });
  t.teardown(() => set.stop());
  const [primary, replica] = [set.primary, set.replicas[0]!];
  const proxyport = await freePort();
  const kind = redisKind({ tag: 'sessions', servers: [primary, replica].map((h) => ({ host: h.host, port: h.port })), proxyport, password: PASSWORD });
  const stack = await startSystem(t, { keys: ['/haproxy/redis'], tag: 'sessions', kind, timeoutMs: 300 });
  const answeredBy = (port: number, ms: number) => eventuallyAnswers(t, () => writeThrough(proxyport, `v${Date.now()}`), port, ms);
  t.ok(await answeredBy(primary.port, 20_000), 'clients write to the primary through HAProxy (HAProxy\'s check accepts -NOAUTH)');
  // fall 2 × inter 1s: a check that failed on -NOAUTH would have marked the server DOWN by now.
  await sleep(2500);
  const stat = await runtimeCommand(stack.statsSocket, 'show stat');
  t.match(stat, new RegExp(`^sessions,sessions-redis-0,(?:[^,]*,){15}UP,`, 'm'), 'HAProxy\'s own check sees the password-protected master UP');
  primary.kill('SIGKILL');
  await replica.cli('REPLICAOF', 'NO', 'ONE');
  const promoted = Date.now();
  t.ok(await answeredBy(replica.port, 10_000), `after the promotion, writes land on the new master (${Date.now() - promoted} ms)`);
});
