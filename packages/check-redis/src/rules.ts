// checkredis's decisions, pure functions of what a pass saw (ROLE and Sentinel replies): which
// server is the master, what entry that makes, which proxyport is safe. rules.test.ts tests them.
import { sameTarget, targetId, type Target } from '@confd-haproxy/checker';
import { DEFAULT_WEIGHT, type EntryBody } from '@confd-haproxy/schema';
import { RedisReplyError, type Reply } from './resp.js';

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

/** The configured servers and the ones the sentinels found, once each, configured first. */
export function withServers(configured: Target[], found: Target[]): Target[] {
  const all = [...configured, ...found];
  return all.filter((t, i) => all.findIndex((x) => sameTarget(x, t)) === i);
}

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
  const masters = eligible.filter((t) => roles.get(targetId(t))?.role === 'master');
  if (sentinel?.asked) {
    if (!sentinel.master) return { problem: `no sentinel named a master (${sentinel.error ?? 'no answer'})` };
    const named = eligible.find((t) => sameTarget(t, sentinel.master!));
    const role = named && roles.get(targetId(named));
    if (!named || role?.role !== 'master') {
      return { problem: `sentinel names ${targetId(sentinel.master)} but ROLE there says ${role?.role ?? 'nothing (not reachable)'}` };
    }
    const others = masters.filter((t) => !sameTarget(t, named));
    return others.length ? { master: named, problem: `${others.map(targetId).join(', ')} also claim master; sentinel names ${targetId(named)}` } : { master: named };
  }
  if (masters.length === 0) return { problem: 'no server answers ROLE as master' };
  if (masters.length > 1) return { problem: `split-brain: ${masters.map(targetId).join(' and ')} all claim master`, splitBrain: true };
  return { master: masters[0]! };
}

function pairs(r: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) out[String(r[i])] = String(r[i + 1]);
  return out;
}

/** SENTINEL replicas' reply (a list of field/value lists) as the replicas' addresses. */
export function sentinelReplicas(r: Reply): Target[] {
  return Array.isArray(r) ? r.map(pairs).flatMap((p) => (p.ip && p.port ? [{ host: p.ip, port: Number(p.port) }] : [])) : [];
}

export interface MasterEntryInput {
  tag: string;
  master: Target;
  /** Servers rendered as HAProxy backups (the master among them is skipped). */
  others: Target[];
  proxyport: number;
}

/** The entry for a chosen master: it serves, the others (with --replicas-as-backup) stand by as backups. */
export function masterEntry({ tag, master, others, proxyport }: MasterEntryInput): EntryBody {
  return {
    name: tag,
    host: master.host,
    port: master.port,
    proxyport,
    servers: [
      { host: master.host, port: master.port, weight: DEFAULT_WEIGHT, role: 'active' },
      ...others.filter((t) => !sameTarget(t, master)).map((t) => ({ host: t.host, port: t.port, weight: DEFAULT_WEIGHT, role: 'backup' as const })),
    ],
  };
}

/** Why a proxyport is unusable next to these servers and sentinels, or undefined. */
export function proxyportProblem(proxyport: number, servers: Target[], sentinels: Target[] = []): string | undefined {
  if (proxyport === SENTINEL_PORT) return `${proxyport} is Redis Sentinel's port`;
  for (const s of sentinels) if (s.port === proxyport) return `${proxyport} is the port of the sentinel ${targetId(s)}`;
  for (const s of servers) {
    if (s.port === proxyport) return `${proxyport} is the port of the server ${targetId(s)}`;
    if (s.port + CLUSTER_BUS_OFFSET === proxyport) return `${proxyport} is the cluster bus port of ${targetId(s)} (port + ${CLUSTER_BUS_OFFSET})`;
  }
  return undefined;
}
