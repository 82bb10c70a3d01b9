// Reloads that drop nothing: under a steady, bounded stream of new client connections through
// HAProxy, 20 master-CLI reloads cause no refused or reset connection.
import t from 'tap';
import { reloadHaproxy } from '@confd-haproxy/runner';
import { freePort, memcachedVersion, startHAProxy, startMemcached } from '@confd-haproxy/testkit';

const RELOADS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One client: connect, ask memcached its version, close. Resolves to an error text or ''. */
async function oneRequest(port: number): Promise<string> {
  const { answer, failure } = await memcachedVersion(port);
  return failure ?? (answer.startsWith('VERSION') ? '' : `answer ${answer}`);
}

t.test(`${RELOADS} reloads under a stream of new connections refuse or reset none`, async (t) => {
  const mem = await startMemcached();
  t.teardown(() => mem.stop());
  const port = await freePort();
  const haproxy = await startHAProxy({
    config: '',
    configText: `global\n    maxconn 512\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nlisten mem\n    bind 127.0.0.1:${port}\n    server m 127.0.0.1:${mem.port}\n`,
  });
  t.teardown(() => haproxy.stop());
  let stop = false;
  const errors: string[] = [];
  let sent = 0;
  // ~200 new connections per second, at most 4 in flight, for as long as the reloads take.
  const load = (async () => {
    const deadline = Date.now() + 120_000;
    while (!stop && Date.now() < deadline) {
      const batch = await Promise.all(Array.from({ length: 4 }, () => oneRequest(port)));
      sent += batch.length;
      errors.push(...batch.filter(Boolean));
      await sleep(20);
    }
  })();
  await sleep(300);
  const results = [];
  for (let i = 0; i < RELOADS; i++) {
    results.push(await reloadHaproxy({ masterSocket: haproxy.masterSocket, timeoutMs: 10_000 }));
    await sleep(100);
  }
  await sleep(300);
  stop = true;
  await load;
  t.equal(results.filter((r) => r.ok).length, RELOADS, 'every reload reported new workers');
  t.ok(sent > 200, `${sent} connections were made during the reloads`);
  t.same(errors, [], 'no connection was refused, reset or left unanswered');
});
