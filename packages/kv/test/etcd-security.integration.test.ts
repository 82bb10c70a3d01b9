import t from 'tap';
import type { Test } from 'tap';
import { createEtcdStore, type EtcdStoreOptions } from '@confd-haproxy/kv';
import { makeTestCerts, removeDir, startEtcd, startMemcached, tempDir } from '@confd-haproxy/testkit';
import { spawnSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const certDir = tempDir('etcd-certs');
t.teardown(() => removeDir(certDir));
const certs = await makeTestCerts(certDir);
const [tlsEtcd, authEtcd] = await Promise.all([
  startEtcd({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } }),
  startEtcd({ rootPassword: 'rootpw' }),
]);
t.teardown(() => Promise.all([tlsEtcd.stop(), authEtcd.stop()]));

const root = fileURLToPath(new URL('../../../', import.meta.url));
const entry = (name: string, proxyport: number) => JSON.stringify({ name, host: '127.0.0.1', port: 11211, proxyport });

/** One put and one read through a store opened with opts. */
async function roundTrip(t: Test, opts: EtcdStoreOptions, key: string): Promise<string | undefined> {
  const store = createEtcdStore({ timeoutMs: 3000, ...opts });
  t.teardown(() => store.close());
  await store.put(key, 'v');
  return (await store.get(key))?.value;
}

function plan(t: Test, endpoint: string, ...flags: string[]) {
  const dir = t.testdir({ 'conf.d': { 'haproxy.toml': '[template]\nsrc = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/memcached"]\n' }, out: {} });
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  return spawnSync(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), 'plan', '-backend', 'etcd', '-node', endpoint, '-confdir', dir, '-state-dir', join(dir, 'state'), ...flags], { encoding: 'utf8', timeout: 30_000 });
}

t.test('a TLS etcd that requires client certificates is read and written with CA, cert and key', async (t) => {
  t.equal(await roundTrip(t, { nodes: [tlsEtcd.endpoint], caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey }, 'haproxy/tls/k'), 'v');
});

t.test('a TLS etcd is refused without a client certificate, with an unrelated CA, and in plaintext', async (t) => {
  await t.rejects(roundTrip(t, { nodes: [tlsEtcd.endpoint], caFile: certs.ca }, 'haproxy/tls/nocert'), { name: 'KVError' }, 'no client certificate');
  await t.rejects(roundTrip(t, { nodes: [tlsEtcd.endpoint], caFile: certs.otherCa, certFile: certs.clientCert, keyFile: certs.clientKey }, 'haproxy/tls/otherca'), { name: 'KVError' }, 'the server is not verified by another CA');
  await t.rejects(roundTrip(t, { nodes: [tlsEtcd.endpoint.replace('https:', 'http:')] }, 'haproxy/tls/plain'), { name: 'KVError' }, 'plaintext to a TLS port');
});

t.test('TLS files with an http:// node, or a missing CA file, are configuration errors', async (t) => {
  t.throws(() => createEtcdStore({ nodes: ['http://127.0.0.1:2379'], caFile: certs.ca }), { code: 'KV_CONFIG', message: /is http:\/\// });
  t.throws(() => createEtcdStore({ nodes: [tlsEtcd.endpoint], caFile: join(certDir, 'missing.crt') }), { code: 'KV_CONFIG', message: /missing\.crt/ });
  t.throws(() => createEtcdStore({ nodes: [tlsEtcd.endpoint], certFile: certs.clientCert }), { code: 'KV_CONFIG', message: /client-key/ });
});

t.test('an etcd with authentication on is used with its user and password, and refused without', async (t) => {
  t.equal(await roundTrip(t, { nodes: [authEtcd.endpoint], username: 'root', password: 'rootpw' }, 'haproxy/auth/k'), 'v');
  await t.rejects(roundTrip(t, { nodes: [authEtcd.endpoint] }, 'haproxy/auth/anon'), { code: 'KV_FORBIDDEN' }, 'no user');
  await t.rejects(roundTrip(t, { nodes: [authEtcd.endpoint], username: 'root', password: 'wrong' }, 'haproxy/auth/wrong'), { code: 'KV_FORBIDDEN' }, 'a wrong password');
});

t.test('confd-haproxy renders from a TLS etcd with -client-ca-keys -client-cert -client-key, as confd', async (t) => {
  const store = createEtcdStore({ nodes: [tlsEtcd.endpoint], caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/tlsmem', entry('tlsmem', 16311));
  const r = plan(t, tlsEtcd.endpoint, '-client-ca-keys', certs.ca, '-client-cert', certs.clientCert, '-client-key', certs.clientKey);
  t.equal(r.status, 2, r.stderr);
  t.match(r.stdout, /\+listen tlsmem/);
  const plain = plan(t, tlsEtcd.endpoint);
  t.equal(plain.status, 1, 'without the TLS flags the TLS etcd cannot be read');
});

t.test('confd-haproxy renders from an etcd with authentication with -basic-auth -username -password, as confd', async (t) => {
  const store = createEtcdStore({ nodes: [authEtcd.endpoint], username: 'root', password: 'rootpw' });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/authmem', entry('authmem', 16312));
  const r = plan(t, authEtcd.endpoint, '-basic-auth', '-username', 'root', '-password', 'rootpw');
  t.equal(r.status, 2, r.stderr);
  t.match(r.stdout, /\+listen authmem/);
  t.notMatch(r.stderr, /rootpw/, 'the password is never logged');
  const anon = plan(t, authEtcd.endpoint);
  t.equal(anon.status, 1);
  t.match(anon.stderr, /permission denied|authentication|user name/i);
});

t.test('the etcd user and password can come from -config-file, keeping them out of ps', async (t) => {
  const store = createEtcdStore({ nodes: [authEtcd.endpoint], username: 'root', password: 'rootpw' });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/filemem', entry('filemem', 16313));
  // Beside the certificates: plan() takes the test's own testdir for its confdir.
  const conf = join(certDir, 'confd.toml');
  writeFileSync(conf, 'basic_auth = true\nusername = "root"\npassword = "rootpw"\n');
  const r = plan(t, authEtcd.endpoint, '-config-file', conf);
  t.equal(r.status, 2, r.stderr);
  t.match(r.stdout, /\+listen filemem/);
});

t.test('a checker writes its entry to a TLS etcd with --client-ca-keys --client-cert --client-key', async (t) => {
  const mc = await startMemcached();
  t.teardown(() => mc.stop());
  const args = ['--server', `127.0.0.1:${mc.port}`, '--tag', 'tlscheck', '--backend', 'etcd', '--node', tlsEtcd.endpoint, '--once', '--lock-dir', t.testdir()];
  const bin = join(root, 'packages/cli/bin/checkmemcached.js');
  const without = spawnSync(process.execPath, [bin, ...args, '--timeout', '2s'], { encoding: 'utf8', timeout: 30_000 });
  t.not(without.status, 0, 'without the TLS flags the store is not reached');
  const r = spawnSync(process.execPath, [bin, ...args, '--client-ca-keys', certs.ca, '--client-cert', certs.clientCert, '--client-key', certs.clientKey], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr + r.stdout);
  const store = createEtcdStore({ nodes: [tlsEtcd.endpoint], caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey });
  t.teardown(() => store.close());
  t.match(JSON.parse((await store.get('haproxy/memcached/tlscheck'))?.value ?? 'null'), { port: mc.port });
});
