// Apply strategies: how a swapped resource reaches the running service. Changing how reloads are
// done happens here: choose (strategy.ts), the runtime API (runtime-api.ts), reload_cmd (reload-cmd.ts).
export { chooseApply } from './strategy.js';
export type { ApplyStrategy, Change, ChooseOptions } from './strategy.js';
export { applyBeforeSwap } from './runtime-api.js';
export type { RuntimeOutcome } from './runtime-api.js';
export { reloadAll, reloadOrRollback } from './reload-cmd.js';
export type { ReloadOptions, ReloadOutcome, ReloadWaiter } from './reload-cmd.js';
export { applySwapped, swapChange } from './apply.js';
export type { Swapped } from './apply.js';
