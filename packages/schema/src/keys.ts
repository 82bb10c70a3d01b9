// Where things live in the store. Every key is under haproxy/; the dot-prefixed folders are not
// entries, so a template's `gets "/haproxy/<kind>/*"` never meets them.
import { TAG_PATTERN } from './entry.js';

/** The folder of every key this project reads or writes. */
export const ROOT = 'haproxy';

/** Strip leading and trailing slashes: "/prod/" → "prod". */
export function trimPrefix(prefix: string | undefined): string {
  return (prefix ?? '').replace(/^\/+|\/+$/g, '');
}

/**
 * A store key under a prefix (the renderer's --prefix, confd's prefix): "/prod/" and "haproxy/x"
 * give "prod/haproxy/x"; no prefix gives the key itself.
 */
export function prefixedKey(prefix: string | undefined, key: string): string {
  const p = trimPrefix(prefix);
  return p ? `${p}/${key}` : key;
}

/** Why a key prefix is unusable, or undefined: segments of letters, digits, _ . - (not . or ..). */
export function prefixProblem(prefix: string): string | undefined {
  const p = trimPrefix(prefix);
  if (p === '') return undefined;
  const bad = p.split('/').find((seg) => !TAG_PATTERN.test(seg) || seg === '.' || seg === '..');
  return bad === undefined ? undefined : `"${prefix}" is not a key prefix (segments of letters, digits, _ . -; "${bad}" is not one)`;
}

/** A checker's entry: haproxy/<kind>/<tag>. */
export const entryKey = (kind: string, tag: string, prefix?: string): string => prefixedKey(prefix, `${ROOT}/${kind}/${tag}`);

/** The locks of a kind's tags: haproxy/.locks/<kind>/. */
export const locksPrefix = (kind: string, prefix?: string): string => prefixedKey(prefix, `${ROOT}/.locks/${kind}/`);

/** The lock one checker of a tag holds while it writes: haproxy/.locks/<kind>/<tag>. */
export const lockKey = (kind: string, tag: string, prefix?: string): string => `${locksPrefix(kind, prefix)}${tag}`;

/**
 * The live checkers of a kind, one key each, bound to the checker's session/lease so it goes when
 * the checker does: haproxy/.checkers/<kind>/<host:pid>. They share the kind's tags among them.
 */
export const membersPrefix = (kind: string, prefix?: string): string => prefixedKey(prefix, `${ROOT}/.checkers/${kind}/`);

/** An operator's maintenance keys of one cluster: haproxy/.maint/<kind>/<cluster>/<host:port>. */
export const maintenancePrefix = (kind: string, cluster: string, prefix?: string): string => prefixedKey(prefix, `${ROOT}/.maint/${kind}/${cluster}/`);

/** One node's maintenance key. */
export const maintenanceKey = (kind: string, cluster: string, node: { host: string; port: number }, prefix?: string): string =>
  `${maintenancePrefix(kind, cluster, prefix)}${node.host}:${node.port}`;

/** What each renderer instance publishes about itself: haproxy/.status/<instance-id>. */
export const STATUS_PREFIX = `${ROOT}/.status/`;
export const statusKey = (instanceId: string): string => `${STATUS_PREFIX}${instanceId}`;

/** The fleet's shared configuration: haproxy/.config/bundle. */
export const CONFIG_PREFIX = `${ROOT}/.config/`;
export const BUNDLE_KEY = `${CONFIG_PREFIX}bundle`;
