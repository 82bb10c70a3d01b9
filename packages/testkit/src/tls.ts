// Test certificates made with the openssl CLI in a caller's temp dir: a CA, a server certificate
// for 127.0.0.1/localhost and a client certificate signed by it, and a second, unrelated CA (a
// client that trusts only that one must refuse the server). EC keys: fast to make on a busy box.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBounded } from './proc.js';

const OPENSSL = '/usr/bin/openssl';

export interface TestCerts {
  dir: string;
  /** The CA that signed server and client. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed neither. */
  otherCa: string;
}

const openssl = (args: string[]) => runBounded(OPENSSL, args, { pkg: 'openssl', timeoutMs: 30_000 });

async function selfSigned(dir: string, name: string, cn: string): Promise<{ crt: string; key: string }> {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=${cn}`]);
  return { crt, key };
}

async function signed(dir: string, name: string, cn: string, ca: { crt: string; key: string }, ext: string): Promise<{ crt: string; key: string }> {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext}\n`);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-out', crt, '-days', '2', '-extfile', extFile]);
  return { crt, key };
}

/** Make every certificate in dir (a temp dir the test owns). */
export async function makeTestCerts(dir: string): Promise<TestCerts> {
  const ca = await selfSigned(dir, 'ca', 'confd-haproxy test CA');
  const other = await selfSigned(dir, 'other-ca', 'another CA');
  const server = await signed(dir, 'server', 'localhost', ca, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth');
  const client = await signed(dir, 'client', 'root', ca, 'extendedKeyUsage=clientAuth');
  return { dir, ca: ca.crt, serverCert: server.crt, serverKey: server.key, clientCert: client.crt, clientKey: client.key, otherCa: other.crt };
}
