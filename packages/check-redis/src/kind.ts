// checkredis: keep haproxy/redis/<tag> on the current Redis master. Every configured server is
// asked ROLE; with sentinels, Sentinel names the master and ROLE must agree. Two masters at once is
// split-brain: the stored entry stays where it is (it never flips back and forth) and it is
// reported on every pass until an operator resolves it.
import { withFields, type Logger } from '@confd-haproxy/base';
import type { CheckerKind, Choice, FoundTargets, Target } from '@confd-haproxy/checker';
import { DEFAULT_WEIGHT, type Entry } from '@confd-haproxy/schema';
import { RedisConnection, RedisReplyError, type RedisTls, type Reply } from './resp.js';

/**
 * Default proxyport = the first server's port + 5000 (6379 → 11379): clear of Sentinel's 26379 and
 * of the cluster bus (port + 10000).
 */
export const REDIS_PROXYPORT_OFFSET = 5000;
export const SENTINEL_PORT = 26379;
export const CLUSTER_BUS_OFFSET = 10000;

export interface RoleInfo {
  role: 'master' | 'slave' | 'sentinel' | 'unknown';
  /** For a replica: its master and link state (connect, connecting, sync, connected). */
  master?: Target;
  link?: string;
  /** For a master: replicas it sees. */
  replicas?: Target[];
}

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

const key = (t: Target) => `${t.host}:${t.port}`;
const same = (a: Target, b: { host: string; port: number }) => a.host === b.host && a.port === b.port;

/** The key segment of this kind's entries: haproxy/redis/<tag>. */
export const REDIS_KIND = 'redis';

/** ROLE's reply as a RoleInfo (master, slave, sentinel), or a reason it is not one. */
export function parseRole(r: Reply): RoleInfo | string {
  if (r instanceof RedisReplyError) return r.message;
  if (!Array.isArray(r) || typeof r[0] !== 'string') return 'ROLE answered something else';
  if (r[0] === 'master') {
    const replicas = Array.isArray(r[2]) ? r[2].flatMap((x) => (Array.isArray(x) && typeof x[0] === 'string' ? [{ host: x[0], port: Number(x[1]) }] : [])) : [];
    return { role: 'master', replicas };
  }
  if (r[0] === 'slave') return { role: 'slave', master: { host: String(r[1]), port: Number(r[2]) }, link: String(r[3]) };
  if (r[0] === 'sentinel') return { role: 'sentinel' };
  return { role: 'unknown' };
}

/** What asking the sentinels learned: the master one of them names, or why none did. */
export interface SentinelAnswer {
  master?: Target;
  asked: boolean;
  error?: string;
}

export interface MasterChoice {
  master?: Target;
  /** Why nothing is chosen, or a warning beside the choice. */
  problem?: string;
  splitBrain?: boolean;
}

/**
 * The master from this pass's ROLE answers of the eligible servers and, with sentinels, their
 * answer. No master, or a sentinel answer that ROLE denies: none (the entry is kept). Two or more
 * masters without sentinels: split-brain, none.
 */
export function chooseMaster(eligible: Target[], roles: ReadonlyMap<string, RoleInfo>, sentinel?: SentinelAnswer): MasterChoice {
  const masters = eligible.filter((t) => roles.get(key(t))?.role === 'master');
  if (sentinel?.asked) {
    if (!sentinel.master) return { problem: `no sentinel named a master (${sentinel.error ?? 'no answer'})` };
    const named = eligible.find((t) => same(t, sentinel.master!));
    const role = named && roles.get(key(named));
    if (!named || role?.role !== 'master') {
      return { problem: `sentinel names ${key(sentinel.master)} but ROLE there says ${role?.role ?? 'nothing (not reachable)'}` };
    }
    const others = masters.filter((t) => !same(t, named));
    return others.length ? { master: named, problem: `${others.map(key).join(', ')} also claim master; sentinel names ${key(named)}` } : { master: named };
  }
  if (masters.length === 0) return { problem: 'no server answers ROLE as master' };
  if (masters.length > 1) return { problem: `split-brain: ${masters.map(key).join(' and ')} all claim master`, splitBrain: true };
  return { master: masters[0]! };
}

function pairs(r: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) out[String(r[i])] = String(r[i + 1]);
  return out;
}

/** Probes learn each server's ROLE, the targets come with the sentinels' answer, and the choice's detail is the master chosen. */
export type RedisKind = CheckerKind<Target, RoleInfo, SentinelAnswer, MasterChoice>;

export function redisKind(opts: RedisKindOptions): RedisKind {
  const conns = new Map<string, RedisConnection>();
  let lost: ((t: Target, reason: string) => void) | undefined;
  const conn = (t: Target) => {
    let c = conns.get(key(t));
    if (!c) {
      const onLost = (reason: string) => lost?.(t, reason);
      conns.set(key(t), (c = new RedisConnection({ ...t, ...(opts.password ? { password: opts.password } : {}), ...(opts.user ? { user: opts.user } : {}), ...(opts.tls ? { tls: opts.tls } : {}), onLost })));
    }
    return c;
  };
  const sentinelConns = new Map<string, RedisConnection>();
  const sentinelConn = (t: Target) => {
    let c = sentinelConns.get(key(t));
    if (!c) sentinelConns.set(key(t), (c = new RedisConnection({ ...t, ...(opts.sentinelPassword ? { password: opts.sentinelPassword } : {}), ...(opts.tls ? { tls: opts.tls } : {}) })));
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
          errors.push(`${key(s)}: ${addr instanceof RedisReplyError ? addr.message : `does not monitor "${name}"`}`);
          continue;
        }
        const master = { host: String(addr[0]), port: Number(addr[1]) };
        const reps = await c.command(['SENTINEL', 'replicas', name], signal);
        const known = Array.isArray(reps)
          ? reps.map(pairs).flatMap((p) => (p.ip && p.port ? [{ host: p.ip, port: Number(p.port) }] : []))
          : [];
        return { targets: [master, ...known], context: { master, asked: true } };
      } catch (err) {
        errors.push(`${key(s)}: ${(err as Error).message}`);
        if (signal.aborted) break;
      }
    }
    return { targets: [], context: { asked: true, error: errors.join('; ') } };
  }

  /** The configured servers and the ones the sentinels found, once each. */
  const withServers = (found: Target[]) => {
    const all = [...opts.servers, ...found];
    return all.filter((t, i) => all.findIndex((x) => same(x, t)) === i);
  };

  return {
    kind: REDIS_KIND,
    async targets(signal) {
      if (!opts.sentinels?.length) return withServers([]);
      const { targets, context } = await askSentinels(signal);
      return { targets: withServers(targets), context };
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
    choose(eligible, current, all, roles, sentinel): Choice<MasterChoice> {
      const choice = chooseMaster(eligible, roles, sentinel);
      report(choice);
      const master = choice.master;
      const why = { ...(choice.problem ? { problem: choice.problem } : {}), detail: choice };
      if (!master) return why;
      const others = opts.replicasAsBackup ? all.filter((t) => !same(t, master)) : [];
      const entry = {
        name: opts.tag,
        host: master.host,
        port: master.port,
        // Fixed from the configuration (or the current entry), so the listen never moves with the master.
        proxyport: opts.proxyport ?? current?.proxyport ?? opts.servers[0]!.port + REDIS_PROXYPORT_OFFSET,
        servers: [
          { host: master.host, port: master.port, weight: DEFAULT_WEIGHT, role: 'active' as const },
          ...others.map((t) => ({ host: t.host, port: t.port, weight: DEFAULT_WEIGHT, role: 'backup' as const })),
        ],
      };
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

/** Why a proxyport is unusable next to these servers and sentinels, or undefined. */
export function proxyportProblem(proxyport: number, servers: Target[], sentinels: Target[] = []): string | undefined {
  if (proxyport === SENTINEL_PORT) return `${proxyport} is Redis Sentinel's port`;
  for (const s of sentinels) if (s.port === proxyport) return `${proxyport} is the port of the sentinel ${key(s)}`;
  for (const s of servers) {
    if (s.port === proxyport) return `${proxyport} is the port of the server ${key(s)}`;
    if (s.port + CLUSTER_BUS_OFFSET === proxyport) return `${proxyport} is the cluster bus port of ${key(s)} (port + ${CLUSTER_BUS_OFFSET})`;
  }
  return undefined;
}
