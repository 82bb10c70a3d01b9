export * from './kind.js';
export * from './resp.js';
