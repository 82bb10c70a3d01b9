export { memcachedKind, MEMCACHED_PROXYPORT_OFFSET } from './kind.js';
export type { MemcachedKindOptions } from './kind.js';
export { MemcachedProbe } from './probe.js';
export type { ProbeOutcome } from './probe.js';
