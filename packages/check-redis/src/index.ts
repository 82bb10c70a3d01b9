export * from './kind.js';
export * from './resp.js';
export { CLUSTER_BUS_OFFSET, chooseMaster, masterEntry, parseRole, proxyportProblem, SENTINEL_PORT, sentinelReplicas, withServers } from './rules.js';
export type { MasterChoice, MasterEntryInput, RoleInfo, SentinelAnswer } from './rules.js';
