export { CATEGORY_EXIT_CODES, ConfdError, NoInputError, UsageError, categoryOf, codedErrorClass, isConfdError, isDataError, isNoInputError, isUsageError } from './errors.js';
export type { CodedErrorClass, ErrorCategory, Outcome } from './errors.js';
export { durationMs } from './duration.js';
export { EXIT, EXIT_CODES, exitCodeOf, exitCodeOfAll, signalExitCode } from './exit.js';
export { withFields, type Logger } from './logger.js';
export { DEFAULT_COMMAND_TIMEOUT, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_RENDER_MAX_BYTES, DEFAULT_RENDER_MAX_SIZE, DEFAULT_RENDER_TIMEOUT, DEFAULT_RENDER_TIMEOUT_MS } from './defaults.js';
export { pidAlive, processOwner, sleep, type Owner } from './process.js';
