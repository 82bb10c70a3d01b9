// The memcached probe: set then get a unique short-TTL key over the text protocol. A server
// that accepts and never answers fails at the caller's deadline (the signal destroys the socket).
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

export function probeMemcached(host: string, port: number, signal: AbortSignal): Promise<{ ok: boolean; reason?: string }> {
  const key = `confd-haproxy:probe:${randomBytes(6).toString('hex')}`;
  const value = randomBytes(8).toString('hex');
  return new Promise((done) => {
    const s = connect({ host, port });
    let buf = '';
    let stage: 'set' | 'get' = 'set';
    const finish = (ok: boolean, reason?: string) => {
      signal.removeEventListener('abort', onAbort);
      s.destroy();
      done(ok ? { ok } : { ok, reason: reason ?? 'failed' });
    };
    const onAbort = () => finish(false, 'timed out');
    if (signal.aborted) return finish(false, 'timed out');
    signal.addEventListener('abort', onAbort, { once: true });
    s.setNoDelay(true);
    s.once('connect', () => s.write(`set ${key} 0 10 ${value.length}\r\n${value}\r\n`));
    s.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code === 'ECONNREFUSED' ? 'connection refused' : err.message));
    s.on('close', () => finish(false, 'connection closed'));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (stage === 'set') {
        if (!buf.includes('\r\n')) return;
        if (!buf.startsWith('STORED\r\n')) return finish(false, `set answered ${JSON.stringify(buf.trim().slice(0, 60))}`);
        buf = '';
        stage = 'get';
        s.write(`get ${key}\r\n`);
      } else if (buf.endsWith('END\r\n')) {
        const want = `VALUE ${key} 0 ${value.length}\r\n${value}\r\nEND\r\n`;
        if (buf === want) {
          s.write(`delete ${key} noreply\r\n`);
          finish(true);
        } else finish(false, 'get returned another value');
      }
    });
  });
}
