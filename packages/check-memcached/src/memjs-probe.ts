// The SASL probe: the text probe's set/get/delete of a unique short-lived key, through memjs over
// the binary protocol (the only one that carries SASL), on one kept, logged-in connection per
// server. The three requests go out together and memcached answers in order: one round trip once
// logged in.
// The checker's deadline rules: memjs retries nothing (retries: 0) and its own timers are set past
// the deadline. At the deadline, or on any failure, the connection is destroyed and the client let
// go: the next probe connects and logs in on a new one (memjs's close handler for an old socket
// would otherwise clear the new socket of the same client). memjs only ends (does not destroy) a
// socket on its own timeouts and tells nobody when one closes, so this probe holds memjs's socket
// itself (`_socket`, the one internal of memjs ~1.3 used here): to destroy it, to see it close
// between probes (onLost, as the text probe), and to end a probe at once when it closes under one.
import type { Socket } from 'node:net';
import { Client, Server, type ServerOptions } from 'memjs';
import { saslReason, socketReason } from './errors.js';
import { nextProbeKey, PROBE_KEY_TTL_S } from './probe-key.js';
import type { ProbeOutcome, SaslCredentials, ServerProbe } from './types.js';

/** memjs reports a refused login only as this string (not an Error), on status 0x20 ("auth error"). */
const MEMJS_AUTH_FAILED = 'Memcached server authentication failed!';
const SILENT = { log: () => undefined };
const TIMED_OUT: ProbeOutcome = { ok: false, reason: 'timed out' };
/** A key no probe sets: the heartbeat's get misses it, which still needs the server to answer. */
const HEARTBEAT_KEY = 'confd-haproxy:heartbeat';

/** memjs's server options that @types/memjs leaves out (seconds). */
interface MemjsTimers {
  timeout: number;
  conntimeout: number;
  keepAlive: boolean;
  keepAliveDelay: number;
}

type MemjsServer = Server & { _socket?: Socket };

export interface MemjsProbeOptions {
  host: string;
  port: number;
  sasl: SaslCredentials;
  /** The checker's probe deadline (ms): memjs's own timers are set to twice it, so it always ends a probe first. */
  deadlineMs: number;
  /** The kept connection closed between probes. */
  onLost?: (reason: string) => void;
}

export class MemjsProbe implements ServerProbe {
  readonly #o: MemjsProbeOptions;
  #client: Client | undefined;
  #server: MemjsServer | undefined;
  /** memjs's socket, held here from the probe that made it until it is dropped. */
  #socket: Socket | undefined;
  /** Set while a probe runs: a close ends that probe instead of being reported to onLost. */
  #onClose: (() => void) | undefined;

  constructor(opts: MemjsProbeOptions) {
    this.#o = opts;
  }

  #clientFor(): Client {
    if (this.#client) return this.#client;
    const { host, port, sasl, deadlineMs } = this.#o;
    const backstopS = (2 * deadlineMs) / 1000;
    const timers: MemjsTimers = { timeout: backstopS, conntimeout: backstopS, keepAlive: true, keepAliveDelay: 10 };
    this.#server = new Server(host, port, sasl.user, sasl.password, timers as ServerOptions);
    // failover off: one server per client; logger silent: the checker reports what failed.
    this.#client = new Client([this.#server], { retries: 0, failover: false, logger: SILENT });
    return this.#client;
  }

  /** Take hold of the socket memjs made for this probe (once per socket). */
  #hold(): void {
    const s = this.#server?._socket;
    if (!s || s === this.#socket) return;
    this.#socket = s;
    s.setNoDelay(true);
    s.once('close', () => {
      if (this.#socket !== s) return; // one we dropped already
      if (this.#onClose) return this.#onClose();
      this.#drop();
      this.#o.onLost?.('connection closed');
    });
  }

  probe(signal: AbortSignal): Promise<ProbeOutcome> {
    const { key, value } = nextProbeKey();
    return this.#ask(signal, async (client) => {
      const [stored, got] = await Promise.all([client.set(key, value, { expires: PROBE_KEY_TTL_S }), client.get(key), client.delete(key)]);
      return !stored ? { ok: false, reason: 'set was not stored' } : got.value?.toString('latin1') === value ? { ok: true } : { ok: false, reason: 'get returned another value' };
    });
  }

  /** Between probes: one get of a key no one sets, on the kept (logged-in) connection: is the server answering at all. */
  heartbeat(signal: AbortSignal): Promise<ProbeOutcome> {
    return this.#ask(signal, async (client) => {
      await client.get(HEARTBEAT_KEY);
      return { ok: true };
    });
  }

  /** Run `ops` on the kept client within the signal's deadline; a failure drops the connection. */
  async #ask(signal: AbortSignal, ops: (client: Client) => Promise<ProbeOutcome>): Promise<ProbeOutcome> {
    if (signal.aborted) return TIMED_OUT;
    const client = this.#clientFor();
    const answered = ops(client);
    this.#hold();
    const outcome = await new Promise<ProbeOutcome>((done) => {
      let settled = false;
      const finish = (r: ProbeOutcome) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        this.#onClose = undefined;
        done(r);
      };
      const onAbort = () => finish(TIMED_OUT);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#onClose = () => finish({ ok: false, reason: 'connection closed' });
      answered.then(finish, (err: unknown) => finish(this.#failure(err)));
    });
    if (!outcome.ok) this.#drop();
    return outcome;
  }

  #failure(err: unknown): ProbeOutcome {
    if (err === MEMJS_AUTH_FAILED) return { ok: false, reason: saslReason('refused', this.#o.sasl.user), data: { sasl: 'refused' } };
    return { ok: false, reason: socketReason(err) };
  }

  /** Destroy the connection and let the client go; memjs's pending requests fail (and are ignored). */
  #drop(): void {
    const server = this.#server;
    this.#socket?.destroy();
    this.#client = this.#server = this.#socket = undefined;
    server?.error(new Error('connection dropped'));
  }

  close(): void {
    this.#drop();
  }
}
