// Loopback ports for test services: pick a free one, wait (bounded) until a process accepts on it.
import { connect, createServer } from 'node:net';
import { LauncherError } from './errors.js';
import { waitWhileAlive } from './proc.js';

// Ports handed out by this process: parallel starts must not get the same one twice.
const given = new Set<number>();

function bindZero(host: string): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

/** A free TCP port on host (bind :0, read, close), not handed out before by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await bindZero(host);
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
  throw new LauncherError('SETUP', `no fresh free port on ${host} after 50 tries`);
}

/** Whether host:port accepts a TCP connection within timeoutMs. */
export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host, port });
    const finish = (ok: boolean) => {
      s.destroy();
      done(ok);
    };
    s.setTimeout(timeoutMs, () => finish(false));
    s.once('connect', () => finish(true));
    s.once('error', () => finish(false));
  });
}

export interface WaitForPortOptions {
  /** Names the service in errors, e.g. `memcached on 4711`. */
  what: string;
  timeoutMs?: number;
  /** A log whose tail is appended to the error. */
  log?: string;
}

/** Wait until host:port accepts, failing fast (with the log's tail) if the process died. */
export async function waitForPort(pid: number, host: string, port: number, opts: WaitForPortOptions): Promise<void> {
  await waitWhileAlive(pid, `${opts.what} (${host}:${port})`, async () => ((await canConnect(host, port)) ? true : undefined), {
    timeoutMs: opts.timeoutMs ?? 30_000,
    log: opts.log,
  });
}
