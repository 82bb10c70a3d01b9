import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker } from '@confd-haproxy/checker';
import { mysqlKind, tagConfig } from '@confd-haproxy/check-mysql';
import { makeTestCerts, type MariaDBHandle, MONITOR, quiet, removeDir, startReplicationSet, tempDir } from '@confd-haproxy/testkit';

// A primary and a replica serving TLS; the monitoring user may only log in over TLS.
const certDir = tempDir('mysql-certs');
t.teardown(() => removeDir(certDir));
const certs = await makeTestCerts(certDir);
const set = await startReplicationSet({ replicas: 1, extra: [`ssl_ca=${certs.ca}`, `ssl_cert=${certs.serverCert}`, `ssl_key=${certs.serverKey}`] });
t.teardown(() => set.stop());
const replica = set.replicas[0] as MariaDBHandle;
for (const h of [set.primary, replica]) await h.socketSql(`SET SESSION sql_log_bin=0; ALTER USER '${MONITOR.user}'@'127.0.0.1' REQUIRE SSL;`);

const root = fileURLToPath(new URL('../../../', import.meta.url));
const signal = new AbortController().signal;

/** One pass of a checker whose db.conf section has these extra settings; the replica's probe result. */
async function replicaProbe(t: Test, settings: Record<string, string>) {
  const config = tagConfig('db.conf', { s: { host: '127.0.0.1', port: String(set.primary.port), user: MONITOR.user, password: MONITOR.password, replicas: `127.0.0.1:${replica.port}`, ...settings } }, 's');
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  const c = new TagChecker({ tag: 's', kind: mysqlKind({ config, maxLag: 30, timeoutMs: 3000, masterFallback: true, logger: quiet }), store, logger: quiet, checker: 't:1', timeoutMs: 3000, retryUp: 1, retryDown: 1, lockTtlMs: 5000 });
  t.teardown(async () => {
    await c.close();
    await store.close();
  });
  return (await c.pass(signal)).results[0]!.result;
}

t.test('a replica that requires TLS is healthy with ssl-ca, ssl-cert and ssl-key in db.conf', async (t) => {
  const r = await replicaProbe(t, { 'ssl-ca': certs.ca, 'ssl-cert': certs.clientCert, 'ssl-key': certs.clientKey });
  t.equal(r.ok, true, r.reason ?? '');
});

t.test('ssl = 1 with only ssl-ca is TLS without a client certificate', async (t) => {
  const r = await replicaProbe(t, { ssl: '1', 'ssl-ca': certs.ca });
  t.equal(r.ok, true, r.reason ?? '');
});

t.test('without TLS settings the same user is refused', async (t) => {
  const r = await replicaProbe(t, {});
  t.equal(r.ok, false);
  t.match(r.reason, /Access denied/);
});

t.test('a server certificate from another CA fails the probe: verification is on by default', async (t) => {
  const r = await replicaProbe(t, { 'ssl-ca': certs.otherCa });
  t.equal(r.ok, false);
  t.match(r.reason, /certificate/i);
});

t.test('ssl-verify-server-cert = 0 turns verification off', async (t) => {
  const r = await replicaProbe(t, { 'ssl-ca': certs.otherCa, 'ssl-verify-server-cert': '0' });
  t.equal(r.ok, true, r.reason ?? '');
});

t.test('a bad ssl-ca path, a cert without its key, or ssl = 0 with files is an error naming file, section and setting', async (t) => {
  const base = { host: 'h', port: '3306', user: 'u' };
  t.throws(() => tagConfig('db.conf', { s: { ...base, 'ssl-ca': join(certDir, 'nope.pem') } }, 's'), { code: 'CHECKER_CONFIG', message: /db\.conf: \[s\] ssl-ca: cannot read .*nope\.pem/ });
  t.throws(() => tagConfig('db.conf', { s: { ...base, 'ssl-cert': certs.clientCert } }, 's'), { message: /db\.conf: \[s\] ssl-key is required with ssl-cert/ });
  t.throws(() => tagConfig('db.conf', { s: { ...base, ssl: '0', 'ssl-ca': certs.ca } }, 's'), { message: /db\.conf: \[s\] ssl = 0 but ssl-ca is set/ });
  t.throws(() => tagConfig('db.conf', { s: { ...base, 'ssl-verify-server-cert': 'maybe' } }, 's'), { message: /ssl-verify-server-cert "maybe" is not 1\/0/ });
});

t.test('checkmysqlslave --once reads the TLS settings from db.conf and writes under --prefix', async (t) => {
  const dir = t.testdir({});
  const conf = join(dir, 'db.conf');
  writeFileSync(conf, `[s]\nhost = 127.0.0.1\nport = ${set.primary.port}\nuser = ${MONITOR.user}\npassword = ${MONITOR.password}\nreplicas = 127.0.0.1:${replica.port}\nssl-ca = ${certs.ca}\n`);
  const kv = join(dir, 'kv.json');
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/checkmysqlslave.js'), '--conf', conf, '--tag', 's', '--backend', 'file', '--file', kv, '--prefix', 'prod', '--once', '--lock-dir', dir, '--timeout', '3s'], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stdout + r.stderr);
  const store = createFileStore({ file: kv });
  t.teardown(() => store.close());
  t.match(JSON.parse((await store.get('prod/haproxy/mysqlslave/s'))?.value ?? 'null'), { port: replica.port });
});
