export { runCommand, dedupeCommands, describeFailure } from './command.js';
export type { RunCommandOptions, CommandResult, RunnerLogger } from './command.js';
export { createQuiescence } from './quiescence.js';
export type { Quiescence, QuiescenceOptions } from './quiescence.js';
export { masterCommand, parseShowProc, reloadHaproxy } from './haproxy.js';
export type { HaproxyReloadResult, ProcState } from './haproxy.js';
