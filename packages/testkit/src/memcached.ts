// memcached for tests: foreground child on a free loopback port, stopped by PID, and plain-text
// requests to it (directly or through a proxy).
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { handle, removeDir, runBounded, startProcess, tempDir, type ServiceHandle } from './proc.js';
import type { Requirement } from './requirement.js';

/** One SASL user memcached accepts (PLAIN, from a sasldb the launcher makes). */
export interface MemcachedSaslUser {
  user: string;
  password: string;
}

export interface MemcachedOptions {
  port?: number;
  /** Cache size in MB (-m). */
  memoryMb?: number;
  /** Extra memcached flags, appended. */
  args?: string[];
  timeoutMs?: number;
  /** Require SASL (-S: binary protocol only) with this user in a sasldb of its own. */
  sasl?: MemcachedSaslUser;
}

const MEMCACHED = '/usr/bin/memcached';
const SASLPASSWD2 = '/usr/sbin/saslpasswd2';

export const MEMCACHED_REQUIRES: readonly Requirement[] = [{ name: 'memcached', path: MEMCACHED, pkg: 'memcached' }];

/**
 * The SASL configuration memcached -S reads from SASL_CONF_PATH: memcached.conf (PLAIN only) and
 * a sasldb with the one user, made by saslpasswd2 (the password on its stdin, not in argv).
 */
async function saslConfig(dir: string, sasl: MemcachedSaslUser): Promise<string> {
  const conf = join(dir, 'sasl');
  mkdirSync(conf, { mode: 0o700 });
  const db = join(conf, 'sasldb');
  await runBounded(SASLPASSWD2, ['-a', 'memcached', '-c', '-p', '-f', db, sasl.user], { pkg: 'sasl2-bin', timeoutMs: 10_000, input: sasl.password });
  writeFileSync(join(conf, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`);
  return conf;
}

/** `memcached -l 127.0.0.1 -p <port> -U 0 -m 16 -c 256 -u root` (with `sasl`: and -S) in the foreground. */
export async function startMemcached(opts: MemcachedOptions = {}): Promise<ServiceHandle> {
  const port = opts.port ?? (await freePort());
  const dir = tempDir('memcached');
  const log = join(dir, 'memcached.log');
  // -c stays low: the default (1024) is fine, but tests run many services under one ulimit.
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', String(opts.memoryMb ?? 16), '-c', '256', '-u', 'root', ...(opts.sasl ? ['-S'] : []), ...(opts.args ?? [])];
  let child;
  try {
    const env = opts.sasl ? { ...process.env, SASL_CONF_PATH: await saslConfig(dir, opts.sasl) } : undefined;
    child = startProcess(MEMCACHED, args, { pkg: 'memcached', output: log, dir, ...(env ? { env } : {}) });
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  const h = handle(`memcached:${port}`, child, '127.0.0.1', port, dir, { graceMs: 2000 });
  try {
    await waitForPort(child.pid!, '127.0.0.1', port, { what: 'memcached', timeoutMs: opts.timeoutMs ?? 10_000, log });
  } catch (err) {
    await h.stop();
    throw err;
  }
  return h;
}

/** What one request got: memcached's answer, or why none came (an errno code, "timeout", "closed without an answer"). */
export type MemcachedReply = { answer: string; failure?: undefined } | { answer?: undefined; failure: string };

/**
 * Send one text command to `port` (a memcached, or a proxy in front of one) on a new connection,
 * and read until `complete` says the answer is whole; no answer within timeoutMs is a "timeout".
 */
export function askMemcached(port: number, command: string, complete: (answer: string) => boolean, timeoutMs: number): Promise<MemcachedReply> {
  return new Promise((done) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    const finish = (reply: MemcachedReply) => {
      s.destroy();
      done(reply);
    };
    s.setTimeout(timeoutMs, () => finish({ failure: 'timeout' }));
    s.once('connect', () => s.write(`${command}\r\n`));
    s.on('data', (d) => {
      buf += d.toString();
      if (complete(buf)) finish({ answer: buf });
    });
    s.once('error', (e: NodeJS.ErrnoException) => finish({ failure: e.code ?? e.message }));
    s.once('close', () => finish({ failure: 'closed without an answer' }));
  });
}

/** The answer to `version` ("VERSION 1.6.21"), trimmed, or why none came. */
export async function memcachedVersion(port: number, timeoutMs = 3000): Promise<MemcachedReply> {
  const reply = await askMemcached(port, 'version', (answer) => answer.includes('\r\n'), timeoutMs);
  return reply.answer === undefined ? reply : { answer: reply.answer.trim() };
}

/** Ask who answers on `port`: the pid from `stats`, or undefined when nothing answers within timeoutMs. */
export async function memcachedPidBehind(port: number, timeoutMs = 1000): Promise<number | undefined> {
  const { answer } = await askMemcached(port, 'stats', (answer) => /STAT pid \d+/.test(answer) && answer.includes('END\r\n'), timeoutMs);
  const pid = answer === undefined ? undefined : /STAT pid (\d+)/.exec(answer)?.[1];
  return pid === undefined ? undefined : Number(pid);
}
