// A minimal RESP2 client for probes: one kept connection per server, one command in flight, and a
// caller's deadline that destroys the socket (a hung server fails the probe, the next probe
// connects afresh). AUTH is sent once per connection when a password is set.
// Not ioredis or node-redis: a probe must end when the caller's AbortSignal fires, with no reconnect
// or offline queue in between; ioredis takes no AbortSignal and by default queues and retries
// commands (enableOfflineQueue, maxRetriesPerRequest 20), node-redis aborts only commands not yet sent.
import { connect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';

export type Reply = string | number | null | RedisReplyError | Reply[];

/** A Redis error reply (-ERR …, -NOAUTH …): the server answered, but said no. */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisReplyError';
  }
}

/** Parse one reply from buf at offset; undefined when it is not complete yet. */
export function parseReply(buf: Buffer, at = 0): { value: Reply; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RedisReplyError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, pos);
        if (!r) return undefined;
        items.push(r.value);
        pos = r.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`not a Redis reply (starts with ${JSON.stringify(type)})`);
  }
}

export function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** TLS to the server: PEM contents; verify checks the chain and the host name (or IP). */
export interface RedisTls {
  ca?: string;
  cert?: string;
  key?: string;
  verify: boolean;
}

export interface RedisConnectionOptions {
  host: string;
  port: number;
  /** TLS when set (redis-server's tls-port); plaintext otherwise. */
  tls?: RedisTls;
  password?: string;
  /** ACL user (Redis 6+); AUTH <user> <password>. */
  user?: string;
  /** Told when the kept connection closes or resets while no command runs (a kill, a restart). */
  onLost?: (reason: string) => void;
}

/** One kept connection; command() runs one command at a time and rejects at the signal. */
export class RedisConnection {
  readonly #o: RedisConnectionOptions;
  #socket: Socket | undefined;
  #ready: Promise<Socket> | undefined;
  #buf = Buffer.alloc(0);
  #waiting: { done: (r: Reply) => void; fail: (e: Error) => void } | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** Commands queued or running: their own failure reports a close, not onLost. */
  #busy = 0;

  constructor(o: RedisConnectionOptions) {
    this.#o = o;
  }

  get address(): string {
    return `${this.#o.host}:${this.#o.port}`;
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#ready = undefined;
    this.#buf = Buffer.alloc(0);
  }

  #fail(reason: string): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    this.close();
    w?.fail(new Error(reason));
  }

  #send(s: Socket, args: readonly string[]): Promise<Reply> {
    return new Promise<Reply>((done, fail) => {
      this.#waiting = { done, fail };
      s.write(encodeCommand(args));
    });
  }

  /** A plain or TLS socket; an IP is verified against the certificate's IP SANs, a name also sent as SNI. */
  #open(): Socket {
    const { host, port, tls } = this.#o;
    if (!tls) return connect({ host, port });
    return tlsConnect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      rejectUnauthorized: tls.verify,
      checkServerIdentity: tls.verify ? checkServerIdentity : () => undefined,
    });
  }

  #connect(): Promise<Socket> {
    this.#ready ??= new Promise<Socket>((done, fail) => {
      const s = this.#open();
      s.setNoDelay(true);
      s.setKeepAlive(true, 10_000);
      this.#socket = s;
      let connected = false;
      s.once(this.#o.tls ? 'secureConnect' : 'connect', () => {
        connected = true;
        if (!this.#o.password) return done(s);
        const auth = this.#o.user ? ['AUTH', this.#o.user, this.#o.password] : ['AUTH', this.#o.password];
        // Only the error's first word (WRONGPASS, NOAUTH, ERR): an unknown-command error echoes its arguments, the password.
        this.#send(s, auth).then((r) => (r instanceof RedisReplyError ? fail(new Error(`AUTH refused: ${r.message.split(' ')[0]}`)) : done(s)), fail);
      });
      s.on('data', (d) => {
        if (this.#socket !== s) return;
        this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
        let r;
        try {
          r = parseReply(this.#buf);
        } catch (err) {
          return this.#fail((err as Error).message);
        }
        if (!r) return;
        this.#buf = this.#buf.subarray(r.end);
        const w = this.#waiting;
        this.#waiting = undefined;
        w?.done(r.value);
      });
      const lost = (reason: string) => {
        fail(new Error(reason));
        if (this.#socket !== s) return;
        this.#fail(reason);
        if (connected && this.#busy === 0) this.#o.onLost?.(reason);
      };
      s.on('error', (err: NodeJS.ErrnoException) => lost(err.code === 'ECONNREFUSED' ? 'connection refused' : err.message));
      s.on('close', () => lost('connection closed'));
    });
    this.#ready.catch(() => this.close());
    return this.#ready;
  }

  /** Send one command; an error reply resolves as a RedisReplyError value, not a rejection. */
  command(args: readonly string[], signal: AbortSignal): Promise<Reply> {
    const run = async (): Promise<Reply> => {
      if (signal.aborted) throw new Error('aborted');
      const onAbort = () => this.#fail('no answer before the deadline');
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const s = await this.#connect();
        return await this.#send(s, args);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    };
    this.#busy++;
    const p = this.#queue.then(run, run).finally(() => this.#busy--);
    this.#queue = p.catch(() => undefined);
    return p;
  }
}
