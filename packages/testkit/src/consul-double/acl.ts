// Consul's ACL model for the resources the double serves: key, session, node and service rules,
// each exact (`key "x"`) or by prefix (`key_prefix "x"`). As Consul's policy authorizer: an exact
// rule decides for its own segment, otherwise the longest matching prefix rule, otherwise the
// default policy; of two rules for the same segment, deny beats write beats read.
import type { IncomingMessage } from 'node:http';

export type AclPolicy = 'read' | 'write' | 'deny';

/** Consul's rule resources the double checks (each also in its `_prefix` form). */
export type AclResource = 'key' | 'session' | 'node' | 'service';

export type AclAccess = 'read' | 'write';

export interface AclRule {
  /** What the rule is about; default 'key' (so `{ prefix, policy }` is a key rule). */
  resource?: AclResource;
  /**
   * The segment: a key, a node name (session and node rules) or a service name, or the start of
   * one ("" matches everything), like `key_prefix "haproxy/"` or `session_prefix ""`.
   */
  prefix: string;
  policy: AclPolicy;
  /** `key "x"` (`session "x"`, …) instead of `key_prefix "x"`: the rule applies to that segment only. */
  exact?: boolean;
}

export interface ConsulDoubleAclOptions {
  /** Default true once `acl` is given. */
  enabled?: boolean;
  /** A token allowed everything (Consul's initial management token). */
  masterToken?: string;
  /** What a segment that no rule matches gets (Consul's acl.default_policy). Default deny. */
  defaultPolicy?: 'allow' | 'deny';
  /** Rules of the anonymous token, used for requests without a token. Default none. */
  anonymous?: AclRule[];
  /**
   * Consul's acl.enable_key_list_policy: a recursive or ?keys read of a prefix the token may not
   * read is a 403. Off (Consul's default): such reads are filtered, and may come back empty (404).
   */
  keyListPolicy?: boolean;
  /** Token secret → its rules (`{ rules }`, or the rules array itself). */
  tokens?: Record<string, { rules: AclRule[] } | AclRule[]>;
}

export interface Authorizer {
  /** Whether the token may read or write the segment of a resource (a key, a session's node, a node, a service). */
  allows(resource: AclResource, access: AclAccess, segment: string): boolean;
  /** Write on the prefix and on everything under it (Consul's KeyWritePrefix, for a recursive delete). */
  canWritePrefix(prefix: string): boolean;
  /** Whether a recursive or ?keys read of the prefix is refused outright. */
  refusesList(prefix: string): boolean;
}

/** What the request's token may do (everything when ACLs are off). */
export type Allows = Authorizer['allows'];

const ALLOW_ALL: Authorizer = {
  allows: () => true,
  canWritePrefix: () => true,
  refusesList: () => false,
};

/** The token of a request: X-Consul-Token, then `Authorization: Bearer`, then ?token=. */
export function requestToken(req: IncomingMessage, url: URL): string | undefined {
  const h = req.headers['x-consul-token'];
  if (typeof h === 'string' && h) return h;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer /i.test(auth)) return auth.slice(7).trim();
  return url.searchParams.get('token') || undefined;
}

const resourceOf = (r: AclRule): AclResource => r.resource ?? 'key';

/** Consul's merge of two rules for one segment: deny, then write, then read. */
const PRECEDENCE: Record<AclPolicy, number> = { deny: 2, write: 1, read: 0 };
const stronger = (a: AclPolicy, b: AclPolicy): AclPolicy => (PRECEDENCE[a] >= PRECEDENCE[b] ? a : b);

/** The merged policy of the rules of one kind (exact or prefix) written for exactly this segment. */
function ruleAt(rules: readonly AclRule[], resource: AclResource, exact: boolean, segment: string): AclPolicy | undefined {
  let policy: AclPolicy | undefined;
  for (const r of rules) {
    if (resourceOf(r) === resource && !!r.exact === exact && r.prefix === segment) policy = policy ? stronger(policy, r.policy) : r.policy;
  }
  return policy;
}

/** The longest prefix rule covering the segment (exact rules do not count); undefined when none does. */
function longestPrefixRule(rules: readonly AclRule[], resource: AclResource, segment: string): AclPolicy | undefined {
  let longest: string | undefined;
  for (const r of rules) {
    if (resourceOf(r) === resource && !r.exact && segment.startsWith(r.prefix) && (longest === undefined || r.prefix.length > longest.length)) longest = r.prefix;
  }
  return longest === undefined ? undefined : ruleAt(rules, resource, false, longest);
}

/** The policy of one segment: its exact rule, else the longest prefix rule; undefined when no rule matches. */
export function rulePolicy(rules: readonly AclRule[], resource: AclResource, segment: string): AclPolicy | undefined {
  return ruleAt(rules, resource, true, segment) ?? longestPrefixRule(rules, resource, segment);
}

const grants = (policy: AclPolicy, access: AclAccess) => policy === 'write' || (policy === 'read' && access === 'read');

/**
 * Consul's KeyWritePrefix: the longest prefix rule covering the prefix (exact rules do not count)
 * must grant write, and so must every rule, exact or prefix, at or under it; with no such prefix
 * rule the default policy decides.
 */
export function keyWritePrefix(rules: readonly AclRule[], prefix: string, defaultAllows: boolean): boolean {
  const base = longestPrefixRule(rules, 'key', prefix);
  if (base !== undefined && base !== 'write') return false;
  const under = rules.filter((r) => resourceOf(r) === 'key' && r.prefix.startsWith(prefix));
  if (under.some((r) => ruleAt(rules, 'key', !!r.exact, r.prefix) !== 'write')) return false;
  return base === 'write' || defaultAllows;
}

export class AclTable {
  readonly #opts: ConsulDoubleAclOptions | undefined;
  readonly #revoked = new Set<string>();

  constructor(opts: ConsulDoubleAclOptions | undefined) {
    this.#opts = opts && opts.enabled !== false ? opts : undefined;
  }

  revoke(token: string): void {
    this.#revoked.add(token);
  }

  /** The authorizer for a token, or 'unknown' (Consul: 403 "ACL not found"). */
  resolve(token: string | undefined): Authorizer | 'unknown' {
    const opts = this.#opts;
    if (!opts) return ALLOW_ALL;
    if (token !== undefined && this.#revoked.has(token)) return 'unknown';
    if (token !== undefined && token === opts.masterToken) return ALLOW_ALL;
    let rules: AclRule[];
    if (token === undefined) rules = opts.anonymous ?? [];
    else {
      const t = opts.tokens?.[token];
      if (!t) return 'unknown';
      rules = Array.isArray(t) ? t : t.rules;
    }
    const defaultAllows = opts.defaultPolicy === 'allow';
    const allows = (resource: AclResource, access: AclAccess, segment: string) => {
      const policy = rulePolicy(rules, resource, segment);
      return policy === undefined ? defaultAllows : grants(policy, access);
    };
    return {
      allows,
      canWritePrefix: (prefix) => keyWritePrefix(rules, prefix, defaultAllows),
      refusesList: (prefix) => opts.keyListPolicy === true && (rulePolicy(rules, 'key', prefix) ?? (defaultAllows ? 'write' : 'deny')) === 'deny',
    };
  }
}
