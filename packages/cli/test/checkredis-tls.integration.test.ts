// checkredis over TLS to a real redis-server that serves only TLS and requires client certificates.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisConnection, RedisReplyError } from '@confd-haproxy/check-redis';
import { makeTestCerts, removeDir, startRedis, tempDir } from '@confd-haproxy/testkit';

const certDir = tempDir('redis-certs');
t.teardown(() => removeDir(certDir));
const certs = await makeTestCerts(certDir);
const redis = await startRedis({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requireClientCert: true } });
t.teardown(() => redis.stop());

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/checkredis.js'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const pem = (p: string) => readFileSync(p, 'utf8');

/** ROLE over one connection with these TLS settings: the role, or the failure's message. */
async function role(tls: ConstructorParameters<typeof RedisConnection>[0]['tls']): Promise<string> {
  const c = new RedisConnection({ host: '127.0.0.1', port: redis.port, ...(tls ? { tls } : {}) });
  try {
    const r = await c.command(['ROLE'], AbortSignal.timeout(3000));
    return r instanceof RedisReplyError ? r.message : Array.isArray(r) ? String(r[0]) : String(r);
  } catch (err) {
    return (err as Error).message;
  } finally {
    c.close();
  }
}

t.test('ROLE is answered over TLS with the CA and a client certificate', async (t) => {
  t.equal(await role({ ca: pem(certs.ca), cert: pem(certs.clientCert), key: pem(certs.clientKey), verify: true }), 'master');
});

t.test('plaintext, a missing client certificate and an unrelated CA all fail', async (t) => {
  t.not(await role(undefined), 'master', 'plaintext to a TLS port');
  t.not(await role({ ca: pem(certs.ca), verify: true }), 'master', 'no client certificate');
  t.match(await role({ ca: pem(certs.otherCa), cert: pem(certs.clientCert), key: pem(certs.clientKey), verify: true }), /certificate/i, 'the server is verified by default');
  t.equal(await role({ ca: pem(certs.otherCa), cert: pem(certs.clientCert), key: pem(certs.clientKey), verify: false }), 'master', 'unless verification is turned off');
});

t.test('checkredis --cacert --cert --key --once writes the master under --prefix', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const base = ['--server', `127.0.0.1:${redis.port}`, '--tag', 'tlsredis', '--backend', 'file', '--file', file, '--once', '--lock-dir', dir, '--prefix', 'prod', '--timeout', '2s'];
  const plain = run(base);
  t.equal(plain.code, 1, 'without TLS there is no master');
  const ok = run([...base, '--cacert', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey]);
  t.equal(ok.code, 0, ok.out + ok.err);
  const kv = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  t.match(JSON.parse(kv['prod/haproxy/redis/tlsredis']!), { port: redis.port });
  const wrongCa = run([...base, '--tag', 'other', '--debug', '--tls', '--cacert', certs.otherCa, '--cert', certs.clientCert, '--key', certs.clientKey]);
  t.equal(wrongCa.code, 1);
  t.match(wrongCa.out + wrongCa.err, /certificate/i);
});

t.test('TLS flag mistakes are usage errors naming the flag', async (t) => {
  const base = ['--server', `127.0.0.1:${redis.port}`, '--backend', 'file', '--file', join(t.testdir({}), 'kv.json')];
  t.match(run([...base, '--insecure']), { code: 64, err: /--insecure: only with --tls/ });
  t.match(run([...base, '--cert', certs.clientCert]), { code: 64, err: /--cert and --key go together/ });
  t.match(run([...base, '--cacert', join(certDir, 'nope.pem')]), { code: 64, err: /--cacert: cannot read .*nope\.pem/ });
});
