export { REPROBE_MIN_GAP_MS, TagChecker } from './core.js';
export { runTagChecker, runTagCheckers } from './run-tag-checkers.js';
export type { RunTagCheckerOptions } from './run-tag-checkers.js';
export type { CheckerKind, CheckerLogger, ChooseInput, Choice, FoundTargets, PassReport, ProbeData, ProbeOutcome, ProbeResult, Target, TagCheckerOptions } from './types.js';
// The entry and its checks live in @confd-haproxy/schema; kinds written against the checker still find them here.
export { entryProblem, parseEntry, prefixedKey, prefixProblem, sameEntry, TAG_PATTERN } from '@confd-haproxy/schema';
export type { Entry, EntryBody, EntryServer, ServerRole } from '@confd-haproxy/schema';
export { DEFAULT_HEARTBEAT_BUDGET, DEFAULT_HEARTBEAT_MS, HeartbeatLoop, heartbeatPeriod } from './heartbeat.js';
export type { HeartbeatOutcome, Heartbeater, HeartbeatLoopOptions } from './heartbeat.js';
export { takeLocalLock } from './lockfile.js';
export type { LocalLock } from './lockfile.js';
export { CheckerError } from './errors.js';
export { readConfigFile } from './config-file.js';
export type { CheckerErrorCode } from './errors.js';
export { assignTags, loadCap, LOAD_SLACK_PERCENT, preference, tagsOf } from './assignment.js';
export { Membership, readMembers, tagListDigest } from './membership.js';
export type { MemberInfo, MembershipOptions, MemberView } from './membership.js';
export { runSharedTagCheckers, TagShare } from './share.js';
export type { ShareChange, SharedTagCheckersOptions } from './share.js';
