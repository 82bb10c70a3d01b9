export { mysqlKind } from './kind.js';
export type { MysqlKindOptions } from './kind.js';
export { readDbConf, tagConfig, allTags, MYSQL_PROXYPORT_OFFSET } from './config.js';
export type { MysqlTagConfig } from './config.js';
