import { connect } from 'node:net';
// memcached for tests: foreground child on a free loopback port, stopped by PID.
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { handle, removeDir, startProcess, tempDir, type ServiceHandle } from './proc.js';

export interface MemcachedOptions {
  port?: number;
  /** Cache size in MB (-m). */
  memoryMb?: number;
  /** Extra memcached flags, appended. */
  args?: string[];
  timeoutMs?: number;
}

/** `memcached -l 127.0.0.1 -p <port> -U 0 -m 16 -c 256 -u root` in the foreground. */
export async function startMemcached(opts: MemcachedOptions = {}): Promise<ServiceHandle> {
  const port = opts.port ?? (await freePort());
  const dir = tempDir('memcached');
  const log = join(dir, 'memcached.log');
  // -c stays low: the default (1024) is fine, but tests run many services under one ulimit.
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', String(opts.memoryMb ?? 16), '-c', '256', '-u', 'root', ...(opts.args ?? [])];
  let child;
  try {
    child = startProcess('/usr/bin/memcached', args, { pkg: 'memcached', output: log, dir });
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  const h = handle(`memcached:${port}`, child, '127.0.0.1', port, dir, { graceMs: 2000 });
  try {
    await waitForPort(child.pid!, '127.0.0.1', port, { what: 'memcached', timeoutMs: opts.timeoutMs ?? 10_000, log });
  } catch (err) {
    await h.stop();
    throw err;
  }
  return h;
}

/**
 * Connect to `port` (a memcached, or a proxy in front of one) and ask who answers: the pid from
 * `stats`, or undefined when nothing answers within timeoutMs.
 */
export function memcachedPidBehind(port: number, timeoutMs = 1000): Promise<number | undefined> {
  return new Promise((done) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    const finish = (pid?: number) => {
      s.destroy();
      done(pid);
    };
    s.setTimeout(timeoutMs, () => finish());
    s.once('connect', () => s.write('stats\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      const m = /STAT pid (\d+)/.exec(buf);
      if (m && buf.includes('END\r\n')) finish(Number(m[1]));
    });
    s.once('error', () => finish());
    s.once('close', () => finish());
  });
}
