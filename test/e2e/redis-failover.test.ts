// Redis behind HAProxy on real processes: a primary and a replica, checkredis's loop, the renderer
// in watch mode with the shipped redis partial, HAProxy in master-worker mode. Clients write through
// the proxyport; the primary is killed and the replica promoted; writes through the same port land
// on the new master. With requirepass set, HAProxy's own check still sees the servers as up.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { TagChecker, runTagChecker } from '@confd-haproxy/checker';
import { redisKind, RedisConnection, RedisReplyError } from '@confd-haproxy/check-redis';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch } from '@confd-haproxy/renderer';
import { runtimeCommand } from '@confd-haproxy/runner';
import { freePort, startRedisSet, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
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
  const dir = tempDir('e2e-redis');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/redis'] });
  t.teardown(() => stack.stop());
  const proxyport = await freePort();
  const file = join(dir, 'kv.json');
  const checkerStore = createFileStore({ file, pollMs: 200 });
  const rendererStore = createFileStore({ file, pollMs: 200 });
  const ac = new AbortController();
  const kind = redisKind({ tag: 'sessions', servers: [primary, replica].map((h) => ({ host: h.host, port: h.port })), proxyport, password: PASSWORD });
  const checker = new TagChecker({ tag: 'sessions', kind, store: checkerStore, logger: quiet, checker: 'e2e:1', timeoutMs: 300, retryUp: 2, retryDown: 1, lockTtlMs: 10_000 });
  const checking = runTagChecker(checker, { intervalMs: 250, signal: ac.signal });
  const rendering = runWatch({ store: rendererStore, confdir: stack.dir, logger: quiet, signal: ac.signal, env: stack.env, wait: { minMs: 50, maxMs: 500 } });
  t.teardown(async () => {
    ac.abort();
    await Promise.all([checking, rendering]);
    await checkerStore.close();
    await rendererStore.close();
  });
  const answeredBy = async (port: number, ms: number) => {
    const deadline = Date.now() + ms;
    let last: number | string = '';
    while (Date.now() < deadline) {
      last = await writeThrough(proxyport, `v${Date.now()}`);
      if (last === port) return true;
      await sleep(50);
    }
    t.comment(`last answer through ${proxyport}: ${last}`);
    return false;
  };
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
