// A delaying TCP proxy for tests: every chunk a server sends reaches the client delayMs later (in
// order), as from a server that answers slowly; requests pass at once. It runs in the test's own
// process (a net.Server, nothing to stop by PID) on a free loopback port.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './ports.js';

export interface DelayProxyOptions {
  /** Where the proxy forwards to. */
  target: { host: string; port: number };
  /** How late each reply reaches the client (ms); setDelay changes it for the chunks that follow. */
  delayMs: number;
}

export interface DelayProxy {
  readonly host: string;
  readonly port: number;
  setDelay(ms: number): void;
  /** Stop listening, drop every connection and every chunk still held back. */
  close(): Promise<void>;
}

export async function startDelayProxy(opts: DelayProxyOptions): Promise<DelayProxy> {
  let delayMs = opts.delayMs;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const server: Server = createServer((client) => {
    const upstream = connect(opts.target);
    track(client);
    track(upstream);
    // A held-back chunk is released no earlier than the one before it: order holds when the delay shrinks.
    let lastRelease = 0;
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      const release = Math.max(Date.now() + delayMs, lastRelease);
      lastRelease = release;
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!client.destroyed) client.write(d);
      }, release - Date.now());
      timers.add(timer);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done());
  });
  return {
    host: '127.0.0.1',
    port,
    setDelay(ms: number) {
      delayMs = ms;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
