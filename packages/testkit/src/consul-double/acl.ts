// Consul's KV ACL model, reduced to key and key_prefix rules: an exact key rule decides for its key,
// otherwise the longest matching prefix does.
import type { IncomingMessage } from 'node:http';

export type AclPolicy = 'read' | 'write' | 'deny';

export interface AclRule {
  /** A key prefix ("" matches every key), like `key_prefix "haproxy/"` in a Consul policy. */
  prefix: string;
  policy: AclPolicy;
  /** `key "x"` instead of `key_prefix "x"`: the rule applies to that key only. */
  exact?: boolean;
}

export interface ConsulDoubleAclOptions {
  /** Default true once `acl` is given. */
  enabled?: boolean;
  /** A token allowed everything (Consul's initial management token). */
  masterToken?: string;
  /** What a key that no rule matches gets (Consul's acl.default_policy). Default deny. */
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
  canRead(key: string): boolean;
  canWrite(key: string): boolean;
  /** Write on the prefix and on everything under it (Consul's KeyWritePrefix, for a recursive delete). */
  canWritePrefix(prefix: string): boolean;
  /** Whether a recursive or ?keys read of the prefix is refused outright. */
  refusesList(prefix: string): boolean;
}

const ALLOW_ALL: Authorizer = {
  canRead: () => true,
  canWrite: () => true,
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
    const fallback: AclPolicy = opts.defaultPolicy === 'allow' ? 'write' : 'deny';
    const policyFor = (key: string): AclPolicy => {
      const exact = rules.find((r) => r.exact && r.prefix === key);
      if (exact) return exact.policy;
      let best: AclRule | undefined;
      for (const r of rules) if (!r.exact && key.startsWith(r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
      return best?.policy ?? fallback;
    };
    return {
      canRead: (key) => policyFor(key) !== 'deny',
      canWrite: (key) => policyFor(key) === 'write',
      canWritePrefix: (prefix) =>
        policyFor(prefix) === 'write' && rules.every((r) => !(r.prefix.startsWith(prefix) && r.prefix.length > prefix.length) || r.policy === 'write'),
      refusesList: (prefix) => opts.keyListPolicy === true && policyFor(prefix) === 'deny',
    };
  }
}
