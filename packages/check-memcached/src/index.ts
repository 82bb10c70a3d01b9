export { MEMCACHED_KIND, memcachedKind, MEMCACHED_PROXYPORT_OFFSET } from './kind.js';
export type { MemcachedKindOptions } from './kind.js';
export { MemcachedProbe } from './probe.js';
export { MemjsProbe } from './memjs-probe.js';
export { saslRequired } from './sasl-required.js';
export type { MemjsProbeOptions } from './memjs-probe.js';
export { MemcachedError, saslError, saslReason } from './errors.js';
export type { MemcachedErrorCode } from './errors.js';
export type { MemcachedChoiceDetail, MemcachedProbeData, ProbeOutcome, SaslCredentials, SaslProblem, ServerProbe } from './types.js';
