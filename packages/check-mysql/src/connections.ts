// One kept MySQL/MariaDB connection per server (a new connection per check costs more than the
// check), with a caller's deadline: a connection that hit it, or broke, is destroyed at once and
// the next query makes a new one (a hung server never answers a polite quit). A kept connection
// that breaks while no query runs (the server was killed, crashed or restarted) is told to onLost.
import { createConnection, type Connection } from 'mysql2';
import { targetId, type HeartbeatOutcome, type Target } from '@confd-haproxy/checker';

/** TLS to the server: PEM contents (not paths); verify checks the chain and the host name. */
export interface MysqlTls {
  ca?: string;
  cert?: string;
  key?: string;
  verify: boolean;
}

export interface MysqlConnectionsOptions {
  user: string;
  password: string;
  /** Connect and query deadline (ms). */
  timeoutMs: number;
  charset?: string;
  /** TLS when set; plaintext otherwise. */
  tls?: MysqlTls;
  /** Told when t's kept connection breaks or ends while no query runs on it. */
  onLost?: (t: Target, reason: string) => void;
}

/** mysql2's ssl options: the chain and the server's name (or IP) verified unless verify is off. */
const sslOptions = (tls: MysqlTls) => ({
  ...(tls.ca ? { ca: tls.ca } : {}),
  ...(tls.cert ? { cert: tls.cert } : {}),
  ...(tls.key ? { key: tls.key } : {}),
  rejectUnauthorized: tls.verify,
  verifyIdentity: tls.verify,
});

export class MysqlConnections {
  readonly #o: MysqlConnectionsOptions;
  readonly #conns = new Map<string, Connection>();
  /** Queries running per connection: their own failure reports a break, not onLost. */
  readonly #busy = new WeakMap<Connection, number>();
  #closed = false;

  constructor(o: MysqlConnectionsOptions) {
    this.#o = o;
  }

  #connOf(t: Target): Connection {
    let conn = this.#conns.get(targetId(t));
    if (!conn) {
      const fresh = createConnection({
        host: t.host,
        port: t.port,
        user: this.#o.user,
        password: this.#o.password,
        connectTimeout: this.#o.timeoutMs,
        // No default database: the checks need none, and a monitoring user may be refused one.
        ...(this.#o.charset ? { charset: this.#o.charset } : {}),
        ...(this.#o.tls ? { ssl: sslOptions(this.#o.tls) } : {}),
      });
      let connected = false;
      fresh.once('connect', () => (connected = true));
      const broke = (reason: string) => {
        const current = this.#conns.get(targetId(t)) === fresh;
        this.#drop(t, fresh);
        if (current && connected && !this.#closed && !this.#busy.get(fresh)) this.#o.onLost?.(t, reason);
      };
      fresh.on('error', (err: Error) => broke(err.message));
      fresh.on('end', () => broke('connection closed'));
      this.#conns.set(targetId(t), fresh);
      conn = fresh;
    }
    return conn;
  }

  #drop(t: Target, conn: Connection): void {
    if (this.#conns.get(targetId(t)) === conn) this.#conns.delete(targetId(t));
    try {
      conn.destroy();
    } catch {
      // already closed
    }
  }

  /** One query on t's kept connection; rejects at the signal or the timeout and drops the connection. */
  query<R>(t: Target, sql: string, signal: AbortSignal): Promise<R[]> {
    return this.#run<R[]>(t, signal, (conn, answered) => conn.query({ sql, timeout: this.#o.timeoutMs }, (err, rows) => answered(err, rows as R[])));
  }

  /** COM_PING on t's kept connection (the heartbeat); fails at the signal and drops the connection. */
  heartbeat(t: Target, signal: AbortSignal): Promise<HeartbeatOutcome> {
    return this.#run<void>(t, signal, (conn, answered) => conn.ping((err) => answered(err, undefined))).then(
      () => ({ ok: true }),
      (err: unknown) => ({ ok: false, reason: (err as Error).message }),
    );
  }

  /** One command on t's kept connection: counted busy while it runs, the connection dropped when it fails or the signal fires. */
  #run<R>(t: Target, signal: AbortSignal, send: (conn: Connection, answered: (err: Error | null, r: R) => void) => void): Promise<R> {
    return new Promise<R>((done, fail) => {
      if (this.#closed) return fail(new Error('checker closed'));
      const conn = this.#connOf(t);
      this.#busy.set(conn, (this.#busy.get(conn) ?? 0) + 1);
      const idle = () => this.#busy.set(conn, (this.#busy.get(conn) ?? 1) - 1);
      const onAbort = () => {
        idle();
        this.#drop(t, conn);
        fail(new Error(`timed out after ${this.#o.timeoutMs} ms`));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        send(conn, (err, r) => {
          if (signal.aborted) return; // onAbort already answered
          idle();
          signal.removeEventListener('abort', onAbort);
          if (err) {
            this.#drop(t, conn);
            fail(err);
          } else done(r);
        });
      } catch (err) {
        idle();
        signal.removeEventListener('abort', onAbort);
        this.#drop(t, conn);
        fail(err as Error);
      }
    });
  }

  close(): void {
    this.#closed = true;
    for (const conn of this.#conns.values()) {
      try {
        conn.destroy();
      } catch {
        // already closed
      }
    }
    this.#conns.clear();
  }
}
