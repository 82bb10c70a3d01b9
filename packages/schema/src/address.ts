// What may stand as a server's address and port in a line of haproxy.cfg: an IP address or a host
// name, and a port 1..65535. Nothing else ever becomes one word of a server line.
import { isIP } from 'node:net';

/**
 * RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens, 63 characters
 * each, 253 in all, one trailing dot allowed. Written here because no well-kept package does only
 * this; '_' is let in as resolvers do (Docker Compose's project_service_1 names).
 */
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

export function isHostName(v: string): boolean {
  const name = v.endsWith('.') ? v.slice(0, -1) : v;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => LABEL.test(label));
}

/** An IPv4 or IPv6 address as node:net reads it (no brackets, no port), or a host name. */
export function isHostOrAddress(v: unknown): v is string {
  return typeof v === 'string' && (isIP(v) !== 0 || isHostName(v));
}

export function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}
