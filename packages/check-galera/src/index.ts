export * from './config.js';
export * from './rules.js';
export * from './kind.js';
