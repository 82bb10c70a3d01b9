export { memcachedKind, MEMCACHED_PROXYPORT_OFFSET } from './kind.js';
export type { MemcachedKindOptions } from './kind.js';
export { probeMemcached } from './probe.js';
