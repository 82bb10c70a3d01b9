// One agent's HTTP listener and its open sockets, so that refuseConnections and close can cut them.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Send } from './http.js';

/** Answer one request to the agent of `agentNode`. */
export type Handle = (req: IncomingMessage, res: ServerResponse, agentNode: string) => Promise<void>;

export class AgentListener {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Drop new connections at once (the refuseConnections fault). */
  refusing = false;

  constructor(agentNode: string, handle: Handle, send: Send) {
    this.#server = createServer((req, res) => {
      handle(req, res, agentNode).catch((err: unknown) => send(res, 500, String(err)));
    });
    this.#server.on('connection', (s) => {
      if (this.refusing) return s.destroy();
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  /** Listen on host:port (0: a free one); the port it got. */
  listen(host: string, port: number): Promise<number> {
    const srv = this.#server;
    return new Promise<number>((done, fail) => {
      srv.once('error', fail);
      srv.listen(port, host, () => {
        srv.off('error', fail);
        done((srv.address() as AddressInfo).port);
      });
    });
  }

  /** Stop listening and destroy every open socket. */
  close(): Promise<void> {
    return new Promise<void>((done) => {
      for (const s of this.#sockets) s.destroy();
      if (!this.#server.listening) return done();
      this.#server.close(() => done());
    });
  }
}
