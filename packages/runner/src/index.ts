export { runCommand, dedupeCommands, describeFailure, killRunningCommands, MAX_OUTPUT_BYTES } from './command.js';
export type { RunCommandOptions, CommandResult, RunnerLogger } from './command.js';
export { commandEnv, COMMAND_ENV_DEFAULTS } from './env.js';
export { createQuiescence } from './quiescence.js';
export type { Quiescence, QuiescenceOptions } from './quiescence.js';
export { masterCommand, parseShowProc, reloadHaproxy } from './haproxy.js';
export type { HaproxyReloadResult, ProcState } from './haproxy.js';
export { planRuntimeUpdate, applyRuntimeUpdate, runtimeCommand } from './haproxy-runtime.js';
export type { RuntimePlan } from './haproxy-runtime.js';
