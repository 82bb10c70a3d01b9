// The memcached probe: set then get a unique short-TTL key over the text protocol, on one kept
// connection per server (a new connection per check costs more than the check). set, get and
// delete go out in one write (memcached answers in order), so a probe is one round trip. A server that
// accepts and never answers fails at the caller's deadline: the signal destroys the socket, and
// the next probe connects afresh. A kept connection that closes between probes (the server was
// killed, crashed or restarted) is reported to `onLost` at once. Between probes, `heartbeat` asks
// `version` on the same connection: the cheapest request memcached answers.
// The text protocol, not memjs, unless SASL is asked for (memjs-probe.ts): memcached's docs call the
// binary protocol deprecated, and twemproxy and mcrouter do not speak it; set/get in the text
// protocol works with all of them.
import { connect, type Socket } from 'node:net';
import { socketReason } from './errors.js';
import { nextProbeKey, PROBE_KEY_TTL_S } from './probe-key.js';
import type { ProbeOutcome, ServerProbe } from './types.js';

export class MemcachedProbe implements ServerProbe {
  readonly #host: string;
  readonly #port: number;
  #socket: Socket | undefined;
  /** The socket once connected: a probe on it needs no wait for the connection. */
  #live: Socket | undefined;
  #ready: Promise<Socket> | undefined;
  #onData: ((chunk: string) => void) | undefined;
  #onFail: ((reason: string) => void) | undefined;
  /** A probe runs (connecting included): its own failure reports a close, not onLost. */
  #busy = false;
  readonly #onLost: ((reason: string) => void) | undefined;

  constructor(host: string, port: number, onLost?: (reason: string) => void) {
    this.#host = host;
    this.#port = port;
    this.#onLost = onLost;
  }

  #drop(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#live = undefined;
    this.#ready = undefined;
  }

  #connect(): Promise<Socket> {
    this.#ready ??= new Promise<Socket>((done, fail) => {
      const s = connect({ host: this.#host, port: this.#port });
      s.setNoDelay(true);
      s.setKeepAlive(true, 10_000);
      this.#socket = s;
      let connected = false;
      s.once('connect', () => {
        connected = true;
        if (this.#socket === s) this.#live = s;
        done(s);
      });
      // Events of a socket we already dropped must not touch the probe that runs on its successor.
      s.on('data', (d) => {
        if (this.#socket === s) this.#onData?.(d.toString('latin1'));
      });
      const lost = (reason: string) => {
        fail(new Error(reason));
        if (this.#socket !== s) return;
        this.#drop();
        if (this.#onFail) this.#onFail(reason);
        else if (connected && !this.#busy) this.#onLost?.(reason);
      };
      s.on('error', (err) => lost(socketReason(err)));
      s.on('close', () => lost('connection closed'));
    });
    return this.#ready;
  }

  probe(signal: AbortSignal): Promise<ProbeOutcome> {
    const { key, value } = nextProbeKey();
    const expected = `STORED\r\nVALUE ${key} 0 ${value.length}\r\n${value}\r\nEND\r\n`;
    return this.#ask(signal, `set ${key} 0 ${PROBE_KEY_TTL_S} ${value.length}\r\n${value}\r\nget ${key}\r\ndelete ${key} noreply\r\n`, (buf) => {
      const firstLine = buf.indexOf('\r\n');
      if (firstLine < 0) return undefined;
      if (!buf.startsWith('STORED\r\n')) return { ok: false, reason: `set answered ${JSON.stringify(buf.slice(0, firstLine).slice(0, 60))}` };
      if (!buf.endsWith('END\r\n')) return undefined;
      return buf === expected ? { ok: true } : { ok: false, reason: 'get returned another value' };
    });
  }

  /** `version` on the kept connection (made anew when there is none): is the server answering at all. */
  heartbeat(signal: AbortSignal): Promise<ProbeOutcome> {
    return this.#ask(signal, 'version\r\n', (buf) => {
      const end = buf.indexOf('\r\n');
      if (end < 0) return undefined;
      return buf.startsWith('VERSION ') ? { ok: true } : { ok: false, reason: `version answered ${JSON.stringify(buf.slice(0, end).slice(0, 60))}` };
    });
  }

  async #ask(signal: AbortSignal, request: string, answer: (buf: string) => ProbeOutcome | undefined): Promise<ProbeOutcome> {
    this.#busy = true;
    try {
      return await this.#exchange(signal, request, answer);
    } finally {
      this.#busy = false;
    }
  }

  /** The kept socket, or a new one once connected; rejects at the signal (and leaves no listener on it: the heartbeat reuses its signal). */
  async #socketFor(signal: AbortSignal): Promise<Socket> {
    if (this.#live) return this.#live;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        this.#connect(),
        new Promise<never>((_, fail) => {
          onAbort = () => fail(new Error('timed out'));
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Send request on the kept socket; answer(buffer so far) says when the reply is whole and what it means. */
  async #exchange(signal: AbortSignal, request: string, answer: (buf: string) => ProbeOutcome | undefined): Promise<ProbeOutcome> {
    let socket: Socket;
    try {
      socket = await this.#socketFor(signal);
    } catch (err) {
      this.#drop();
      return { ok: false, reason: (err as Error).message };
    }
    return new Promise<ProbeOutcome>((done) => {
      let buf = '';
      const finish = (r: ProbeOutcome) => {
        signal.removeEventListener('abort', onAbort);
        this.#onData = undefined;
        this.#onFail = undefined;
        if (!r.ok) this.#drop();
        done(r);
      };
      const onAbort = () => finish({ ok: false, reason: 'timed out' });
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#onFail = (reason) => finish({ ok: false, reason, ...(buf === '' ? { unanswered: true } : {}) });
      this.#onData = (chunk) => {
        buf += chunk;
        const r = answer(buf);
        if (r) finish(r);
      };
      socket.write(request);
    });
  }

  close(): void {
    this.#drop();
  }
}
