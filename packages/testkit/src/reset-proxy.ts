// A TCP proxy in front of a store that can reset connections on demand: the next n requests
// (the next n chunks a client sends that match, on a new or a reused keep-alive connection) are answered with
// a TCP RST instead of being passed on — what a client sees when the server closed an idle
// keep-alive socket just as the client reused it. Everything else is piped through unchanged.
import { connect, createServer, type Socket } from 'node:net';
import { freePort } from './ports.js';

export interface ResetProxy {
  host: string;
  port: number;
  /** host:port, for a store's address. */
  address: string;
  /** Reset the connection that carries each of the next n requests (those `which` accepts: by default every one); 0 disarms. */
  resetNext(n: number, which?: (chunk: Buffer) => boolean): void;
  /** Requests reset so far. */
  readonly resets: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startResetProxy(target: { host: string; port: number }): Promise<ResetProxy> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  const open = new Set<Socket>();
  let armed = 0;
  let matches: (chunk: Buffer) => boolean = () => true;
  let resets = 0;
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const upstream = connect(target.port, target.host);
    open.add(client).add(upstream);
    const drop = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => {
      if (armed > 0 && matches(chunk)) {
        armed--;
        resets++;
        open.delete(client);
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, done);
  });
  return {
    host,
    port,
    address: `${host}:${port}`,
    resetNext(n, which = () => true) {
      armed = n;
      matches = which;
    },
    get resets() {
      return resets;
    },
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const s of open) s.destroy();
        server.close(() => done());
      }),
  };
}
