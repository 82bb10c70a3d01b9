export { MYSQL_KIND, mysqlKind, privilegeHint } from './kind.js';
export { candidates, chooseReplica, dumpThreadHosts, replicaHealth, reportedReplicas } from './rules.js';
export type { ReplicaChoiceInput, ReplicaRule } from './rules.js';
export type { MysqlKind, MysqlKindOptions } from './kind.js';
export { readDbConf, parseDbConf, readPemSetting, tagConfig, allTags, MYSQL_PROXYPORT_OFFSET } from './config.js';
export type { MysqlTagConfig } from './config.js';
export * from './connections.js';
