import { freePort, handle, startProcess, tempDir, waitForPort, type ServiceHandle } from './proc.js';

/** A memcached on a free loopback port. */
export async function startMemcached(opts: { port?: number } = {}): Promise<ServiceHandle> {
  const port = opts.port ?? (await freePort());
  const dir = tempDir('memcached');
  const child = startProcess('/usr/bin/memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', '-c', '256', '-u', 'root'], { pkg: 'memcached' });
  await waitForPort(child.pid!, '127.0.0.1', port, { what: `memcached on ${port}`, timeoutMs: 10_000 });
  return handle(`memcached:${port}`, child, '127.0.0.1', port, dir);
}
