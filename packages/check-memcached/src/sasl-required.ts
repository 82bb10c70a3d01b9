// Whether a server speaks only SASL (memcached -S closes a text-protocol connection unanswered):
// one binary-protocol "list mechanisms" request on a connection of its own, within the probe's
// deadline. A server that lists mechanisms wants a login; one that answers "unknown command"
// (no -S), closes, refuses or stays silent does not say so.
import { connect } from 'node:net';
import { Utils } from 'memjs';

const SASL_LIST_MECHS = 0x20;

export function saslRequired(host: string, port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((done) => {
    if (signal.aborted) return done(false);
    const s = connect({ host, port });
    let buf = Buffer.alloc(0);
    const finish = (required: boolean) => {
      signal.removeEventListener('abort', onAbort);
      s.destroy();
      done(required);
    };
    const onAbort = () => finish(false);
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => s.write(Utils.makeRequestBuffer(SASL_LIST_MECHS, '', '', '', 0)));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      // memjs's parser answers false until the whole message is there.
      const m = Utils.parseMessage(buf) as ReturnType<typeof Utils.parseMessage> | false;
      if (m) finish(m.header.opcode === SASL_LIST_MECHS && m.header.status === 0);
    });
    s.once('error', () => finish(false));
    s.once('close', () => finish(false));
  });
}
