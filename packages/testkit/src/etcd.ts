// A single-member etcd for tests: data dir, client and peer ports on loopback, ready on /health.
import { join } from 'node:path';
import { freePort } from './ports.js';
import { handle, removeDir, startProcess, tempDir, waitWhileAlive, type ServiceHandle } from './proc.js';

const ETCD = '/usr/bin/etcd';

export interface EtcdOptions {
  /** Extra etcd flags, appended (e.g. `--auto-compaction-retention=1`). */
  args?: string[];
  timeoutMs?: number;
}

export interface EtcdHandle extends ServiceHandle {
  /** The client URL, e.g. `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  readonly peerPort: number;
  readonly log: string;
}

async function healthy(endpoint: string): Promise<true | undefined> {
  const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
  const body = (await res.json()) as { health?: string };
  return res.ok && body.health === 'true' ? true : undefined;
}

/** `etcd` with its own data dir; resolves once /health reports a leader. */
export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdHandle> {
  const [port, peerPort] = [await freePort(), await freePort()];
  const dir = tempDir('etcd');
  const log = join(dir, 'etcd.log');
  const endpoint = `http://127.0.0.1:${port}`;
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
    ...(opts.args ?? []),
  ];
  let child;
  try {
    child = startProcess(ETCD, args, { pkg: 'etcd-server', output: log, dir });
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  const base = handle(`etcd:${port}`, child, '127.0.0.1', port, dir, { graceMs: 3000 });
  try {
    await waitWhileAlive(child.pid!, `etcd on ${endpoint}`, () => healthy(endpoint), { timeoutMs: opts.timeoutMs ?? 15_000, log });
  } catch (err) {
    await base.stop();
    throw err;
  }
  return { ...base, endpoint, peerPort, log };
}
