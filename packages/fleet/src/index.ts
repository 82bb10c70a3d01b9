export * from './errors.js';
export * from './identity.js';
export * from './bundle.js';
export * from './status.js';
export * from './agent.js';
export * from './push.js';
export * from './trust.js';
export { commandAllowed, policyProblems, type LocalPolicy } from '@confd-haproxy/resource';
export * from './secrets.js';
