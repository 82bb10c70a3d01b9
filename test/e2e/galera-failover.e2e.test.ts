// A Galera cluster behind HAProxy on real processes: three mariadbd with galera-4, checkgalera's
// loop, the renderer in watch mode with the shipped galera partial, HAProxy in master-worker mode.
// Clients ask `SELECT @@port` through the writer listen; the writer is SIGKILLed; the next
// connections reach the next writer by weight, and the reader listen keeps answering.
import t from 'tap';
import mysql from 'mysql2/promise';
import { galeraKind, parseGaleraConfig } from '@confd-haproxy/check-galera';
import { freePort, startGaleraCluster, MONITOR } from '@confd-haproxy/testkit';
import { eventuallyAnswers, startSystem } from './system.js';

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
  await startSystem(t, { keys: ['/haproxy/galera'], tag: 'main', kind: galeraKind({ cluster: cfg }), timeoutMs: 500 });
  const reaches = (port: number, want: number, ms: number) => eventuallyAnswers(t, () => portBehind(port), want, ms);
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
