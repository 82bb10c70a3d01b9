// checkgalera over TLS to a real one-node Galera cluster whose monitoring user may only log in over TLS.
import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TagChecker } from '@confd-haproxy/checker';
import { galeraKind, parseGaleraConfig } from '@confd-haproxy/check-galera';
import { createFileStore } from '@confd-haproxy/kv';
import { makeTestCerts, MONITOR, quiet, removeDir, startGaleraCluster, tempDir } from '@confd-haproxy/testkit';

const certDir = tempDir('galera-certs');
t.teardown(() => removeDir(certDir));
const certs = await makeTestCerts(certDir);
const cluster = await startGaleraCluster({ nodes: 1, extra: [`ssl_ca=${certs.ca}`, `ssl_cert=${certs.serverCert}`, `ssl_key=${certs.serverKey}`] });
t.teardown(() => cluster.stop());
const node = cluster.nodes[0]!;
await node.socketSql(`ALTER USER '${MONITOR.user}'@'127.0.0.1' REQUIRE SSL;`);
const root = fileURLToPath(new URL('../../../', import.meta.url));

const toml = (tls: string) =>
  `[cluster.main]\nuser = "${MONITOR.user}"\npassword = "${MONITOR.password}"\ncheckTimeOut = 3000\n${tls}\n[[cluster.main.node]]\nhost = "127.0.0.1"\nport = ${node.port}\n`;

/** One pass with these TLS settings; the node's probe result. */
async function probe(t: Test, tls: string) {
  const cfg = parseGaleraConfig('galera.toml', toml(tls)).clusters[0]!;
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const c = new TagChecker({ tag: 'main', kind: galeraKind({ cluster: cfg, logger: quiet }), store, logger: quiet, checker: 't:1', timeoutMs: 3000, retryUp: 1, retryDown: 1, lockTtlMs: 5000 });
  t.teardown(async () => {
    await c.close();
    await store.close();
  });
  return (await c.pass(new AbortController().signal)).results[0]!.result;
}

t.test('a node that requires TLS is checked with sslCa, sslCert and sslKey', async (t) => {
  const r = await probe(t, `sslCa = "${certs.ca}"\nsslCert = "${certs.clientCert}"\nsslKey = "${certs.clientKey}"`);
  t.equal(r.ok, true, r.reason ?? '');
});

t.test('without TLS settings the monitoring user is refused', async (t) => {
  const r = await probe(t, '');
  t.equal(r.ok, false);
  t.match(r.reason, /Access denied/);
});

t.test('a server certificate from another CA fails the check unless sslVerify = false', async (t) => {
  const refused = await probe(t, `sslCa = "${certs.otherCa}"`);
  t.equal(refused.ok, false);
  t.match(refused.reason, /certificate/i);
  const unverified = await probe(t, `sslCa = "${certs.otherCa}"\nsslVerify = false`);
  t.equal(unverified.ok, true, unverified.reason ?? '');
});

t.test('a bad sslCa path, a certificate without its key, or sslVerify without TLS is an error naming file and key', async (t) => {
  t.throws(() => parseGaleraConfig('galera.toml', toml(`sslCa = "${join(certDir, 'nope.pem')}"`)), { code: 'CHECKER_CONFIG', message: /galera\.toml: cluster\.main\.sslCa: cannot read .*nope\.pem/ });
  t.throws(() => parseGaleraConfig('galera.toml', toml(`sslCert = "${certs.clientCert}"`)), { message: /galera\.toml: cluster\.main\.sslKey: is required with sslCert/ });
  t.throws(() => parseGaleraConfig('galera.toml', toml('sslVerify = false')), { message: /cluster\.main\.sslVerify: is set but TLS is off/ });
});

t.test('checkgalera --once over TLS writes the cluster entry under --prefix', async (t) => {
  const dir = t.testdir({});
  const config = join(dir, 'galera.toml');
  writeFileSync(config, toml(`sslCa = "${certs.ca}"`));
  const kv = join(dir, 'kv.json');
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/checkgalera.js'), '--config', config, '--backend', 'file', '--file', kv, '--prefix', 'prod', '--once', '--lock-dir', dir], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stdout + r.stderr);
  const store = createFileStore({ file: kv });
  t.teardown(() => store.close());
  t.match(JSON.parse((await store.get('prod/haproxy/galera/main'))?.value ?? 'null'), { port: node.port });
});
