export { loadResources, validateResource, STDOUT_DEST } from './load.js';
export type { ResourceConfig, LoadResourcesOptions } from './load.js';
export { stageAndSwap, shellQuote, substituteSrc, removeStageFilesSync, readDest } from './pipeline.js';
export type { SwapOptions, ResourceResult, SwapResult } from './pipeline.js';
export * from './apply/index.js';
export { ResourceError } from './errors.js';
export type { ResourceErrorCode } from './errors.js';
export { commandAllowed, policyProblems, realPath } from './policy.js';
export type { LocalPolicy } from './policy.js';
