// checkredis: keep haproxy/redis/<tag> on the current Redis master. Every configured server is
// asked ROLE; with sentinels, Sentinel names the master and ROLE must agree. Two masters at once is
// split-brain: the stored entry stays where it is (it never flips back and forth) and it is
// reported on every pass until an operator resolves it.
import { withFields, type Logger } from '@confd-haproxy/base';
import { targetId, type CheckerKind, type Choice, type FoundTargets, type Target } from '@confd-haproxy/checker';
import type { Entry } from '@confd-haproxy/schema';
import { RedisConnection, RedisReplyError, type RedisTls } from './resp.js';
import { chooseMaster, masterEntry, parseRole, sentinelReplicas, type MasterChoice, type RoleInfo, type SentinelAnswer, withServers } from './rules.js';

/**
 * Default proxyport = the first server's port + 5000 (6379 → 11379): clear of Sentinel's 26379 and
 * of the cluster bus (port + 10000).
 */
export const REDIS_PROXYPORT_OFFSET = 5000;

export type RedisLogger = Logger;

export interface RedisKindOptions {
  tag: string;
  /** Servers asked ROLE every pass, in order. */
  servers: Target[];
  /** Default: the first server's port + 5000. Required when only sentinels are given. */
  proxyport?: number;
  /** Render the other servers as HAProxy backups (reads, or writes failing on a replica, are then possible). */
  replicasAsBackup?: boolean;
  /** Redis Sentinels; the master comes from them, cross-checked with ROLE. */
  sentinels?: Target[];
  /** The name the sentinels monitor (default: the tag). */
  masterName?: string;
  password?: string;
  user?: string;
  /** TLS to servers and sentinels alike (redis-cli's --tls applies to both). */
  tls?: RedisTls;
  /** The sentinels' own password (their requirepass), when they have one. */
  sentinelPassword?: string;
  logger?: RedisLogger;
}

/** The key segment of this kind's entries: haproxy/redis/<tag>. */
export const REDIS_KIND = 'redis';

/** Probes learn each server's ROLE, the targets come with the sentinels' answer, and the choice's detail is the master chosen. */
export type RedisKind = CheckerKind<Target, RoleInfo, SentinelAnswer, MasterChoice>;

export function redisKind(opts: RedisKindOptions): RedisKind {
  const conns = new Map<string, RedisConnection>();
  let lost: ((t: Target, reason: string) => void) | undefined;
  const conn = (t: Target) => {
    let c = conns.get(targetId(t));
    if (!c) {
      const onLost = (reason: string) => lost?.(t, reason);
      conns.set(targetId(t), (c = new RedisConnection({ ...t, ...(opts.password ? { password: opts.password } : {}), ...(opts.user ? { user: opts.user } : {}), ...(opts.tls ? { tls: opts.tls } : {}), onLost })));
    }
    return c;
  };
  const sentinelConns = new Map<string, RedisConnection>();
  const sentinelConn = (t: Target) => {
    let c = sentinelConns.get(targetId(t));
    if (!c) sentinelConns.set(targetId(t), (c = new RedisConnection({ ...t, ...(opts.sentinelPassword ? { password: opts.sentinelPassword } : {}), ...(opts.tls ? { tls: opts.tls } : {}) })));
    return c;
  };
  const name = opts.masterName ?? opts.tag;
  let lastReported = '';
  const report = (c: MasterChoice) => {
    if (!c.problem) {
      lastReported = '';
      return;
    }
    if (c.splitBrain) withFields(opts.logger, { tag: opts.tag, code: 'REDIS_SPLIT_BRAIN' })?.error(`${opts.tag}: ${c.problem}; keeping the current entry until it is resolved`);
    else if (c.problem !== lastReported) withFields(opts.logger, { tag: opts.tag, code: 'REDIS_TOPOLOGY' })?.warn(`${opts.tag}: ${c.problem}`);
    lastReported = c.problem;
  };

  /** Ask the sentinels in order; the first that names the master wins, with the replicas it knows. */
  async function askSentinels(signal: AbortSignal): Promise<FoundTargets<Target, SentinelAnswer>> {
    const errors: string[] = [];
    for (const s of opts.sentinels ?? []) {
      try {
        const c = sentinelConn(s);
        const addr = await c.command(['SENTINEL', 'get-master-addr-by-name', name], signal);
        if (!Array.isArray(addr) || addr.length < 2) {
          errors.push(`${targetId(s)}: ${addr instanceof RedisReplyError ? addr.message : `does not monitor "${name}"`}`);
          continue;
        }
        const master = { host: String(addr[0]), port: Number(addr[1]) };
        const known = sentinelReplicas(await c.command(['SENTINEL', 'replicas', name], signal));
        return { targets: [master, ...known], context: { master, asked: true } };
      } catch (err) {
        errors.push(`${targetId(s)}: ${(err as Error).message}`);
        if (signal.aborted) break;
      }
    }
    return { targets: [], context: { asked: true, error: errors.join('; ') } };
  }

  return {
    kind: REDIS_KIND,
    async targets(signal) {
      if (!opts.sentinels?.length) return withServers(opts.servers, []);
      const { targets, context } = await askSentinels(signal);
      return { targets: withServers(opts.servers, targets), context };
    },
    onConnectionLost(fn) {
      lost = fn;
    },
    async probe(t, signal) {
      const role = parseRole(await conn(t).command(['ROLE'], signal));
      if (typeof role === 'string') return { ok: false, reason: role };
      if (role.role === 'master' || role.role === 'slave') return { ok: true, data: role };
      return { ok: false, reason: `ROLE says ${role.role}`, data: role };
    },
    async heartbeat(t, signal) {
      const r = await conn(t).command(['PING'], signal);
      if (r === 'PONG') return { ok: true };
      // Only the error's first word (LOADING, BUSY, NOAUTH), as for AUTH.
      return { ok: false, reason: `PING answered ${r instanceof RedisReplyError ? r.message.split(' ')[0] : 'something else'}` };
    },
    choose({ eligible, current, all, probed: roles, context: sentinel }): Choice<MasterChoice> {
      const choice = chooseMaster(eligible, roles, sentinel);
      report(choice);
      const master = choice.master;
      const why = { ...(choice.problem ? { problem: choice.problem } : {}), detail: choice };
      if (!master) return why;
      const entry = masterEntry({ tag: opts.tag, master, others: opts.replicasAsBackup ? all : [], proxyport: opts.proxyport ?? current?.proxyport ?? opts.servers[0]!.port + REDIS_PROXYPORT_OFFSET });
      return { entry, ...why };
    },
    okLine: (e: Entry) => `current master ${e.host}:${e.port} is ok`,
    changedLine: (e: Entry, previous: Entry | undefined) =>
      `set master ${e.host}:${e.port} with tag ${e.name}${previous ? ` (was ${previous.host}:${previous.port})` : ''}`,
    close: async () => {
      for (const c of [...conns.values(), ...sentinelConns.values()]) c.close();
    },
  };
}
