// Loopback ports for test services: pick a free one, wait (bounded) until a process accepts on it.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { LauncherError } from './errors.js';
import { waitWhileAlive } from './proc.js';

// Ports handed out by this process: parallel starts must not get the same one twice.
const given = new Set<number>();

/** Bind host:port (0: any), close, and answer the port; undefined when it is taken. */
function tryBind(host: string, port: number): Promise<number | undefined> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? done(undefined) : fail(err)));
    srv.listen(port, host, () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => done(bound));
    });
  });
}

/**
 * Where test services listen: below the kernel's ephemeral range (ip_local_port_range). A port in
 * that range can be taken by any outgoing connection (a client, a Galera node's state transfer)
 * between the pick and the service's own bind, which failed starts on a loaded machine; below
 * it, only another explicit bind can take it. Undefined where that range is too small.
 */
function listenRange(): { low: number; high: number } | undefined {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: the default range's start
  }
  const low = 10_000;
  return ephemeralLow - low >= 2_000 ? { low, high: ephemeralLow - 1 } : undefined;
}

const range = listenRange();

/** A candidate port: a random one of the listen range, or any free one (bind :0) without a range. */
async function candidate(host: string): Promise<number | undefined> {
  if (!range) return tryBind(host, 0);
  return tryBind(host, range.low + Math.floor(Math.random() * (range.high - range.low + 1)));
}

/** A free TCP port on host, below the ephemeral range where there is one, not handed out before by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = await candidate(host);
    if (port !== undefined && !given.has(port)) {
      given.add(port);
      return port;
    }
  }
  throw new LauncherError('SETUP', `no fresh free port on ${host} after 200 tries`);
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

/**
 * This process's open TCP sockets to `port` on IPv4 (its file descriptors matched against
 * /proc/net/tcp): their local ports, in no particular order. A socket the process ended but never
 * destroyed still counts; one it destroyed does not, whatever state the kernel keeps it in.
 */
export function ownSocketsTo(port: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const local: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !inodes.has(f[9]!)) continue;
    if (parseInt(f[2]!.split(':')[1]!, 16) === port) local.push(parseInt(f[1]!.split(':')[1]!, 16));
  }
  return local;
}
