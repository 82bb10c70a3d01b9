// The public shape of the Consul double: what startConsulDouble takes and gives back.
import type { ConsulDoubleAclOptions } from './acl.js';

export interface ConsulDoubleOptions {
  /** 0 (default): a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** ACLs on; without it every request may do everything (like an agent without ACLs). */
  acl?: ConsulDoubleAclOptions;
  /** How long after its TTL a session without renew is invalidated (ms). Default: random, up to min(TTL, 1 s). */
  sessionGraceMs?: number;
  /** The agent's `session_ttl_min`: the shortest session TTL accepted (ms). Default 10 s, as Consul's. */
  sessionTtlMinMs?: number;
  /** Keep every request in `requests` (default true; the long-running bin turns it off). */
  recordRequests?: boolean;
  /** The datacenters `?dc=` may name, the local one first (default ["dc1"]). */
  datacenters?: string[];
  /** The agent's node name (default "consul-double"). */
  nodeName?: string;
}

/** Another agent of the double's cluster: same KV, sessions and catalog, its own node and port. */
export interface ConsulDoubleAgent {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly port: number;
  /** Its node: the Node of the sessions created through it and of the services registered with it. */
  readonly nodeName: string;
}

export interface RecordedRequest {
  method: string;
  /** The raw request URL (path and query), as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface ConsulDoubleFaults {
  /** Refuse connections (close the listener and every open socket) until turned off. */
  refuseConnections(on: boolean): Promise<void>;
  /** Answer every request this much later (0: at once). */
  delay(ms: number): void;
  /** Answer the next `count` requests with this status (default: every request until `fail(0)`). */
  fail(status: number, count?: number): void;
  /** A snapshot restore: every index drops to a low number, held blocking queries answer at once. */
  resetIndex(): void;
  /** X-Consul-KnownLeader on every answer. */
  knownLeader(on: boolean): void;
  /** Answer every held blocking query now, with unchanged data and index (Consul may do this). */
  wakeBlockedQueries(): void;
}

export interface ConsulDouble {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  readonly faults: ConsulDoubleFaults;
  /** How many blocking queries are held right now (a cancelled client request drops out at once). */
  readonly blockedQueries: number;
  /** From now on the token is unknown (403 "ACL not found"). */
  revokeToken(token: string): void;
  /**
   * Start another agent of the cluster on a free port, as a client agent on another host: its node
   * (with a passing serfHealth) joins the catalog, sessions created through it are on that node,
   * and its agent endpoints register on it. Faults other than refuseConnections apply to it too.
   */
  addAgent(nodeName: string): Promise<ConsulDoubleAgent>;
  /** Invalidate a session now, as if its TTL ran out: its locks are released and lock-delay starts. */
  expireSession(id: string): void;
  expireAllSessions(): void;
  close(): Promise<void>;
}
