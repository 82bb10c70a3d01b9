export * from './common.js';
// Each command's program, to run in-process (tests); importing runs nothing.
export { main as confdHaproxy } from './commands/confd-haproxy.js';
export type { CommandIO } from './common.js';
export { main as checkgalera } from './commands/checkgalera.js';
export { main as checkmemcached } from './commands/checkmemcached.js';
export { main as checkmysqlslave } from './commands/checkmysqlslave.js';
export { main as checkredis } from './commands/checkredis.js';
export { main as haproxyReload } from './commands/haproxy-reload.js';
export { defaultLockDir } from './checker-run.js';
