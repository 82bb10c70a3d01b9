// A single-member etcd for tests: data dir, client and peer ports on loopback, ready on /health.
// Optionally served over TLS (client certificates required or not) and with authentication on.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { handle, removeDir, startProcess, tempDir, waitWhileAlive, type ServiceHandle } from './proc.js';
import type { Requirement } from './requirement.js';

const ETCD = '/usr/bin/etcd';

export const ETCD_REQUIRES: readonly Requirement[] = [{ name: 'etcd', path: ETCD, pkg: 'etcd-server' }];

export interface EtcdOptions {
  /** Extra etcd flags, appended (e.g. `--auto-compaction-retention=1`). */
  args?: string[];
  timeoutMs?: number;
  /** Serve clients over TLS with this server certificate; with `ca`, client certificates are required. */
  tls?: { cert: string; key: string; ca?: string };
  /** Turn authentication on, with user root and this password (etcd's root role). */
  rootPassword?: string;
  /** Client and peer ports (default: free ones); a restart on the same address passes the old ones. */
  port?: number;
  peerPort?: number;
}

/** How the launcher talks to its etcd: TLS files, and a client certificate when one is required. */
interface Client {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface EtcdHandle extends ServiceHandle {
  /** The client URL, e.g. `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  readonly peerPort: number;
  readonly log: string;
}

/** One JSON call to etcd's HTTP gateway (node:https: fetch takes no CA or client certificate). */
function call(endpoint: string, path: string, body: unknown, client: Client): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((done, fail) => {
    const url = new URL(path, endpoint);
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      { method: body === undefined ? 'GET' : 'POST', timeout: 2000, ...client },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          try {
            done({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
          } catch (err) {
            fail(err as Error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within 2 s`)));
    req.on('error', fail);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function healthy(endpoint: string, client: Client): Promise<true | undefined> {
  const res = await call(endpoint, '/health', undefined, client);
  return res.status === 200 && res.json.health === 'true' ? true : undefined;
}

/** etcdctl's `user add root`, `user grant-role root root`, `auth enable`, through the gateway. */
async function enableAuth(endpoint: string, password: string, client: Client): Promise<void> {
  for (const [path, body] of [
    ['/v3/auth/user/add', { name: 'root', password }],
    ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
    ['/v3/auth/enable', {}],
  ] as const) {
    const res = await call(endpoint, path, body, client);
    if (res.status !== 200) throw new Error(`etcd ${path}: ${res.status} ${JSON.stringify(res.json)}`);
  }
}

/** `etcd` with its own data dir; resolves once /health reports a leader. */
export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdHandle> {
  const [port, peerPort] = [opts.port ?? (await freePort()), opts.peerPort ?? (await freePort())];
  const dir = tempDir('etcd');
  const log = join(dir, 'etcd.log');
  const endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'default',
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `default=${peer}`,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', `testkit-${port}`,
    // A lone member elects itself after one election timeout: keep it short.
    '--heartbeat-interval', '50',
    '--election-timeout', '250',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    ...(opts.tls ? ['--cert-file', opts.tls.cert, '--key-file', opts.tls.key] : []),
    ...(opts.tls?.ca ? ['--trusted-ca-file', opts.tls.ca, '--client-cert-auth'] : []),
    ...(opts.args ?? []),
  ];
  // The server certificate is also the launcher's client certificate (it is made for both uses).
  const client: Client = opts.tls
    ? { ca: readFileSync(opts.tls.ca ?? opts.tls.cert), ...(opts.tls.ca ? { cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) } : {}) }
    : {};
  let child;
  try {
    child = startProcess(ETCD, args, { pkg: 'etcd-server', output: log, dir });
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  const base = handle(`etcd:${port}`, child, '127.0.0.1', port, dir, { graceMs: 3000 });
  try {
    await waitWhileAlive(child.pid!, `etcd on ${endpoint}`, () => healthy(endpoint, client), { timeoutMs: opts.timeoutMs ?? 15_000, log });
    if (opts.rootPassword) await enableAuth(endpoint, opts.rootPassword, client);
  } catch (err) {
    await base.stop();
    throw err;
  }
  return { ...base, endpoint, peerPort, log };
}
