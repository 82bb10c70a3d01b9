export * from './common.js';
export { addStoreFlags, storeFlagValues, storeOptionsFromFlags } from './store-flags.js';
export type { CommandIO } from './common.js';
// Each command's program, to run in-process (tests); importing runs nothing.
export { COMMANDS, commandMain, type CommandMain } from './commands.js';
export { defaultLockDir } from './checker-run.js';
