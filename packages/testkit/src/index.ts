export * from './consul-double/index.js';
