// A Galera cluster behind HAProxy on real processes: three mariadbd with galera-4, checkgalera's
// loop, the renderer in watch mode with the shipped galera partial, HAProxy in master-worker mode.
// Clients ask `SELECT @@port` through the writer listen; the writer is SIGKILLed; the next
// connections reach the next writer by weight, and the reader listen keeps answering.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { TagChecker, runTagChecker } from '@confd-haproxy/checker';
import { galeraKind, parseGaleraConfig } from '@confd-haproxy/check-galera';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch } from '@confd-haproxy/renderer';
import { freePort, startGaleraCluster, startRenderedHAProxy, tempDir, MONITOR } from '@confd-haproxy/testkit';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The port of the MariaDB that answers through HAProxy's port, or the error. */
async function portBehind(port: number): Promise<number | string> {
  try {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, ...MONITOR, connectTimeout: 1000 });
    try {
      const [rows] = await c.query({ sql: 'SELECT @@port AS p', timeout: 1000 });
      return Number((rows as { p: number }[])[0]!.p);
    } finally {
      c.destroy();
    }
  } catch (err) {
    return (err as Error).message;
  }
}

t.test('clients of the writer listen follow the writer; the reader listen keeps answering', async (t) => {
  const cluster = await startGaleraCluster({ nodes: 3 });
  t.teardown(() => cluster.stop());
  const [writerPort, readerPort] = [await freePort(), await freePort()];
  const text = [
    '[cluster.main]',
    `user = "${MONITOR.user}"`,
    `password = "${MONITOR.password}"`,
    'checkTimeOut = 500',
    `writerPort = ${writerPort}`,
    `readerPort = ${readerPort}`,
    ...cluster.nodes.map((n, i) => `[[cluster.main.node]]\nhost = "127.0.0.1"\nport = ${n.port}\nwriterWeight = ${1000 - i}`),
  ].join('\n');
  const cfg = parseGaleraConfig('galera.toml', text).clusters[0]!;
  const dir = tempDir('e2e-galera');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/galera'] });
  t.teardown(() => stack.stop());
  const file = join(dir, 'kv.json');
  const checkerStore = createFileStore({ file, pollMs: 200 });
  const rendererStore = createFileStore({ file, pollMs: 200 });
  const ac = new AbortController();
  const checker = new TagChecker({ tag: 'main', kind: galeraKind({ cluster: cfg }), store: checkerStore, logger: quiet, checker: 'e2e:1', timeoutMs: 500, retryUp: 1, retryDown: 1, lockTtlMs: 10_000 });
  const checking = runTagChecker(checker, { intervalMs: 250, signal: ac.signal });
  const rendering = runWatch({ store: rendererStore, confdir: stack.dir, logger: quiet, signal: ac.signal, env: stack.env, wait: { minMs: 50, maxMs: 500 } });
  t.teardown(async () => {
    ac.abort();
    await Promise.all([checking, rendering]);
    await checkerStore.close();
    await rendererStore.close();
  });
  const reaches = async (port: number, want: number, ms: number) => {
    const deadline = Date.now() + ms;
    let last: number | string = '';
    while (Date.now() < deadline) {
      last = await portBehind(port);
      if (last === want) return true;
      await sleep(100);
    }
    t.comment(`last answer through ${port}: ${last}`);
    return false;
  };
  const [n0, n1] = [cluster.nodes[0]!, cluster.nodes[1]!];
  t.ok(await reaches(writerPort, n0.port, 30_000), 'the writer listen reaches the heaviest node');
  const readers = new Set<number | string>();
  for (let i = 0; i < 12; i++) readers.add(await portBehind(readerPort));
  t.same([...readers].sort(), cluster.nodes.map((n) => n.port).sort(), 'the reader listen balances over all three nodes');
  n0.kill('SIGKILL');
  const killed = Date.now();
  t.ok(await reaches(writerPort, n1.port, 15_000), `after the writer is killed, the writer listen reaches the next by weight (${Date.now() - killed} ms)`);
  t.equal(typeof (await portBehind(readerPort)), 'number', 'the reader listen answers');
});
