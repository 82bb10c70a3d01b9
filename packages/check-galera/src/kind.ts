// checkgalera: one entry per Galera cluster, haproxy/galera/<cluster>, with the writer(s) for the
// writer listen and every node with its role for the reader listen (pxcScheduler's rules, see
// rules.ts). Each node answers one query per pass on a kept connection.
import { withFields } from '@confd-haproxy/base';
import { targetId, type CheckerKind, type CheckerLogger, type Choice, type Target } from '@confd-haproxy/checker';
import { DEFAULT_WEIGHT, maintenancePrefix as maintenanceFolder, type Entry } from '@confd-haproxy/schema';
import { MysqlConnections, privilegeHint } from '@confd-haproxy/check-mysql';
import type { GaleraClusterConfig, GaleraNodeConfig } from './config.js';
import { assignRoles, healthOf, type NodeStatus, type NodeView, type Roles } from './rules.js';

export interface GaleraKindOptions {
  cluster: GaleraClusterConfig;
  /** host:port of the nodes an operator put in maintenance; read once per pass. */
  maintenance?: (signal: AbortSignal) => Promise<Set<string>>;
  logger?: CheckerLogger;
}

/** What one probe learned about a node. */
export interface NodeProbe {
  status?: NodeStatus;
  health: NodeView['health'];
  reason?: string;
}

/** Probes learn each node's status, the nodes come with the ones in maintenance (host:port), and the choice's detail is the roles. */
export type GaleraKind = CheckerKind<GaleraNodeConfig, NodeProbe, ReadonlySet<string>, Roles>;

// One round trip: the wsrep status, read_only, reject_queries and the segment.
const STATUS_SQL = `SELECT
  (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE') AS state,
  (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT') AS comment,
  (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_STATUS') AS cluster_status,
  (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY') AS ready,
  (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CONNECTED') AS connected,
  (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE') AS cluster_size,
  @@global.read_only AS read_only, @@global.wsrep_reject_queries AS reject_queries, @@global.wsrep_provider_options AS provider_options`;

interface StatusRow {
  state: string | null;
  comment: string | null;
  cluster_status: string | null;
  ready: string | null;
  connected: string | null;
  cluster_size: string | null;
  read_only: number | string;
  reject_queries: string;
  provider_options: string | null;
}

/** The key segment of this kind's entries: haproxy/galera/<tag>. */
export const GALERA_KIND = 'galera';

export function parseStatus(row: StatusRow): NodeStatus {
  const seg = /(?:^|;)\s*gmcast\.segment\s*=\s*(\d+)/.exec(row.provider_options ?? '');
  return {
    state: Number(row.state ?? 0),
    comment: row.comment ?? '',
    clusterStatus: row.cluster_status ?? 'Disconnected',
    ready: row.ready === 'ON',
    connected: row.connected === 'ON',
    rejectQueries: String(row.reject_queries ?? 'NONE'),
    readOnly: Number(row.read_only) === 1 || row.read_only === 'ON',
    segment: seg ? Number(seg[1]) : 0,
    clusterSize: Number(row.cluster_size ?? 0),
  };
}

const list = (vs: NodeView[]) => vs.map(targetId);

export function galeraKind(opts: GaleraKindOptions): GaleraKind {
  const cfg = opts.cluster;
  let lost: ((t: Target, reason: string) => void) | undefined;
  const conns = new MysqlConnections({ user: cfg.user, password: cfg.password, timeoutMs: cfg.checkTimeOut, ...(cfg.tls ? { tls: cfg.tls } : {}), onLost: (t, reason) => lost?.(t, reason) });
  /** The maintenance keys as last read: kept while the store does not answer. */
  let maint: ReadonlySet<string> = new Set<string>();
  let lastProblem = '';

  return {
    kind: GALERA_KIND,
    async targets(signal) {
      if (opts.maintenance) {
        try {
          maint = await opts.maintenance(signal);
        } catch (err) {
          // Never take a node out of maintenance because the store did not answer.
          withFields(opts.logger, { tag: cfg.name, code: 'MAINTENANCE_READ_FAILED', err })?.warn(`${cfg.name}: cannot read the maintenance keys (${(err as Error).message}); keeping ${[...maint].join(', ') || 'none'}`);
        }
      }
      return { targets: cfg.nodes, context: maint };
    },
    onConnectionLost(fn) {
      lost = fn;
    },
    async probe(t, signal) {
      let rows: StatusRow[];
      try {
        rows = await conns.query<StatusRow>(t, STATUS_SQL, signal);
      } catch (err) {
        const reason = privilegeHint(err);
        return { ok: false, reason, data: { health: 'down', reason } };
      }
      const status = parseStatus(rows[0]!);
      const h = healthOf(status);
      const data = { status, ...h };
      return h.health === 'ok' ? { ok: true, data } : { ok: false, reason: h.reason ?? h.health, data };
    },
    heartbeat: (t, signal) => conns.heartbeat(t, signal),
    choose({ eligible, current, probed, context: inMaintenance = new Set() }): Choice<Roles> {
      const views: NodeView[] = cfg.nodes.map((n) => {
        const s = probed.get(targetId(n)) ?? { health: 'down' as const, reason: 'not checked' };
        return {
          ...n,
          health: s.health,
          ...(s.reason ? { reason: s.reason } : {}),
          eligible: eligible.includes(n),
          maint: inMaintenance.has(targetId(n)),
          readOnly: s.status?.readOnly ?? false,
          segment: n.segment ?? s.status?.segment ?? 0,
        };
      });
      const currentWriters: Target[] = current ? (Array.isArray(current.servers) && current.servers.length ? current.servers : [current]) : [];
      const roles = assignRoles(cfg, views, currentWriters);
      if (roles.problem) {
        if (roles.problem !== lastProblem) withFields(opts.logger, { tag: cfg.name, code: 'GALERA_NO_WRITER' })?.error(`${cfg.name}: ${roles.problem}; the entry is kept`);
        lastProblem = roles.problem;
        return { problem: roles.problem, detail: roles };
      }
      lastProblem = '';
      if (roles.lastInSegment) withFields(opts.logger, { tag: cfg.name, code: 'GALERA_LAST_NODE_KEPT' })?.warn(`${cfg.name}: ${targetId(roles.lastInSegment)} is ${roles.lastInSegment.reason} but the last node of main segment ${cfg.mainSegment}: it keeps serving`);
      const w = roles.writers[0]!;
      const entry = {
        name: cfg.name,
        host: w.host,
        port: w.port,
        proxyport: cfg.writerPort,
        servers: roles.writers.map((v) => ({ host: v.host, port: v.port, weight: DEFAULT_WEIGHT, role: 'active' as const })),
        readerport: cfg.readerPort,
        readers: roles.readers,
        drained: list(roles.drained),
        maintenance: list(roles.maintenance),
        down: list(roles.down),
      };
      return { entry, detail: roles };
    },
    okLine: (e: Entry, backend: string) => `${e.name} in ${backend} is ok (writer ${e.host}:${e.port})`,
    changedLine: (e: Entry, prev: Entry | undefined) => {
      const readers = e.readers?.filter((r) => r.role === 'active').length ?? 0;
      const moved = prev && (prev.host !== e.host || prev.port !== e.port) ? ` (was ${prev.host}:${prev.port})` : '';
      const drained = e.drained?.length ? `, drained ${e.drained.join(' ')}` : '';
      const maintenance = e.maintenance?.length ? `, maintenance ${e.maintenance.join(' ')}` : '';
      return `${e.name}: writer ${e.host}:${e.port}${moved}, ${readers} reader(s)${drained}${maintenance}`;
    },
    async close() {
      conns.close();
    },
  };
}

/** Where an operator's maintenance keys live: haproxy/.maint/galera/<cluster>/<host:port>. */
export const maintenancePrefix = (cluster: string, prefix?: string) => maintenanceFolder('galera', cluster, prefix);
