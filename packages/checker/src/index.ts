export { REPROBE_MIN_GAP_MS, TagChecker, runTagChecker, runTagCheckers } from './core.js';
export type { CheckerKind, CheckerLogger, PassReport, ProbeResult, RunTagCheckerOptions, Target, TagCheckerOptions } from './core.js';
export { entryProblem, parseEntry, prefixedKey, prefixProblem, sameEntry, TAG_PATTERN } from './entry.js';
export type { Entry, EntryBody, EntryServer, ServerRole } from './entry.js';
export { takeLocalLock } from './lockfile.js';
export type { LocalLock } from './lockfile.js';
export { CheckerError } from './errors.js';
export type { CheckerErrorCode } from './errors.js';
