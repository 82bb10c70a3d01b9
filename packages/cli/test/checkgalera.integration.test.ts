import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGaleraCluster } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/checkgalera.js'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const kv = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;

t.test('a bad config file exits 65 and names the file, the key and the problem', async (t) => {
  const dir = t.testdir({ 'galera.toml': '[cluster.main]\nuser = "m"\nactiveFailover = 9\n[[cluster.main.node]]\nhost = "db1"\n' });
  const r = run(['--config', join(dir, 'galera.toml'), '--backend', 'file', '--file', join(dir, 'kv.json'), '--once']);
  t.equal(r.code, 65);
  t.match(r.err, /galera.toml: cluster.main.activeFailover: 9 is not a whole number in 0..3/);
  const missing = run(['--config', join(dir, 'nope.toml'), '--backend', 'file', '--file', join(dir, 'kv.json'), '--once']);
  t.equal(missing.code, 65);
  t.match(missing.err, /nope.toml: cannot read/);
});

t.test('--once writes the cluster\'s entry; --maint and --unmaint move a node in and out of maintenance through the store', async (t) => {
  const cluster = await startGaleraCluster({ nodes: 1 });
  t.teardown(() => cluster.stop());
  const port = cluster.nodes[0]!.port;
  // The README's promise: the monitoring user needs no grants at all.
  await cluster.nodes[0]!.query("CREATE USER 'probe'@'127.0.0.1' IDENTIFIED BY 'probepw'");
  const dir = t.testdir({});
  const config = join(dir, 'galera.toml');
  writeFileSync(config, `[global]\ndaemonInterval = 500\n[cluster.main]\nuser = "probe"\npassword = "probepw"\nwriterPort = 23306\n[[cluster.main.node]]\nhost = "127.0.0.1"\nport = ${port}\n`);
  const file = join(dir, 'kv.json');
  const common = ['--config', config, '--backend', 'file', '--file', file, '--lock-dir', dir];
  const ok = run([...common, '--once']);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, new RegExp(`main: writer 127\\.0\\.0\\.1:${port}, 1 reader\\(s\\)`));
  t.match(JSON.parse(kv(file)['haproxy/galera/main']!), { name: 'main', port, proxyport: 23306, readerport: 23307 });

  const maint = run([...common, '--cluster', 'main', '--maint', `127.0.0.1:${port}`, '--reason', 'kernel upgrade']);
  t.equal(maint.code, 0, maint.err);
  t.match(JSON.parse(kv(file)[`haproxy/.maint/galera/main/127.0.0.1:${port}`]!), { reason: 'kernel upgrade' });
  const none = run([...common, '--once']);
  t.equal(none.code, 1);
  t.match(none.out + none.err, new RegExp(`no writer candidate .*127\\.0\\.0\\.1:${port} in maintenance`));
  t.equal(JSON.parse(kv(file)['haproxy/galera/main']!).port, port, 'with no candidate the entry is kept');

  t.equal(run([...common, '--cluster', 'main', '--unmaint', `127.0.0.1:${port}`]).code, 0);
  t.notOk(kv(file)[`haproxy/.maint/galera/main/127.0.0.1:${port}`], 'the key is gone');
  t.match(run([...common, '--cluster', 'main', '--maint', '127.0.0.1:1']), { code: 64, err: /127.0.0.1:1 is not a node of cluster main/ });
  t.match(run([...common, '--cluster', 'other', '--once']), { code: 65, err: /no \[cluster.other\] section/ });
});
