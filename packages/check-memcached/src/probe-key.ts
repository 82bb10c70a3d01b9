// The probes' key and value: unique per probe without a random draw each time (a random prefix
// per process and a counter), and short-lived, so a probe that could not delete it leaves little.
import { randomBytes } from 'node:crypto';

const KEY_PREFIX = `confd-haproxy:probe:${randomBytes(6).toString('hex')}:`;
let sequence = 0;

/** Seconds a probe's key lives. */
export const PROBE_KEY_TTL_S = 10;

/** The next probe's key and value. */
export function nextProbeKey(): { key: string; value: string } {
  const seq = (sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER).toString(36);
  return { key: KEY_PREFIX + seq, value: `v${seq}` };
}
