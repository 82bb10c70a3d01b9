export { Renderer, runOnce, runInterval, runWatch, planAll } from './renderer.js';
export type { RendererOptions, RendererLogger, PassResult } from './renderer.js';
export { storePrefix, storePrefixes, templatePairs, readPrefixes } from './data.js';
export type { TemplatePair } from './data.js';
export { guardRender, GuardError } from './guards.js';
export type { GuardLimits } from './guards.js';
export { EntryMemory, entriesPath } from './entries.js';
export type { BadEntry } from './entries.js';
