// Shared by the launcher tests: talk to memcached (directly or through HAProxy) the plain way.
import { connect } from 'node:net';

/** The reply to `version`, or undefined if none came within timeoutMs (closed, refused, stopped). */
export function memcachedVersion(port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((done) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write('version\r\n'));
    let buf = '';
    const finish = (v: string | undefined) => {
      clearTimeout(timer);
      s.destroy();
      done(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) finish(buf.trim());
    });
    s.once('error', () => finish(undefined));
    s.once('close', () => finish(undefined));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until fn() is true, at most timeoutMs; returns the last answer. */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
}
