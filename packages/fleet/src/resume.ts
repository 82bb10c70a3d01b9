// What a restart continues with: the bundle adopted before (<state-dir>/fleet.json and its files
// under bundles/), but only when this instance would adopt it now: its files as they were when it
// was adopted and, with --trust-key, signed by one of the keys trusted now.
import { join, resolve } from 'node:path';
import { bundleDir, parseBundle, readApplied, readBundleTree, type Applied } from './bundle.js';
import { readJudging, recordJudged, restoreApplied, writeJudging } from './canary.js';
import { untrustedReason, type TrustedKey } from './trust.js';

/** An adopted bundle a restart does not run, and why (the instance renders its own --confdir instead). */
export interface SetAside {
  version: number;
  checksum: string;
  reason: string;
}

/** What a start runs: the adopted bundle, or none (and, when there was one, why it was set aside). */
export interface Resumed {
  applied?: Applied;
  setAside?: SetAside;
  /** A rollout bundle whose judgement a restart cut short: judged failed, the one before it runs. */
  interrupted?: SetAside;
}

/** Why the adopted bundle a must not run again under these trusted keys (none: no --trust-key), or undefined. */
export function resumeProblem(stateDir: string, a: Applied, trustKeys: readonly TrustedKey[]): string | undefined {
  // Only a dir of its own: fleet.json copied from another state dir (a shared /tmp one) may name one another user can change.
  if (resolve(a.dir) !== resolve(bundleDir(stateDir, a))) return `its files are not under ${join(stateDir, 'bundles')} (${a.dir})`;
  if (!a.bundle) return trustKeys.length ? 'untrusted (kept without its signature by an earlier release)' : undefined;
  if (a.bundle.version !== a.version || a.bundle.checksum !== a.checksum) return 'fleet.json names another bundle than the one it records';
  let files;
  try {
    files = readBundleTree(a.dir);
    parseBundle(JSON.stringify({ ...a.bundle, files }), join(stateDir, 'fleet.json'));
  } catch (err) {
    return `its files under ${a.dir} changed after it was adopted (${(err as Error).message})`;
  }
  const untrusted = trustKeys.length ? untrustedReason({ ...a.bundle, files }, trustKeys) : undefined;
  return untrusted && `untrusted (${untrusted})`;
}

/** The adopted bundle to run at start, or why it is set aside. */
export function resumeApplied(stateDir: string, trustKeys: readonly TrustedKey[]): Resumed {
  const interrupted = interruptedJudgement(stateDir, trustKeys);
  if (interrupted) return interrupted;
  const applied = readApplied(stateDir);
  if (!applied) return {};
  const reason = resumeProblem(stateDir, applied, trustKeys);
  return reason ? { setAside: { version: applied.version, checksum: applied.checksum, reason } } : { applied };
}

/**
 * A restart while a rollout bundle was judged: HAProxy's numbers from before the change are gone,
 * so the bundle is judged failed (the safe direction) and what ran before it runs again.
 */
function interruptedJudgement(stateDir: string, trustKeys: readonly TrustedKey[]): Resumed | undefined {
  const judging = readJudging(stateDir);
  if (!judging) return undefined;
  writeJudging(stateDir, undefined);
  if (readApplied(stateDir)?.checksum !== judging.checksum) return undefined;
  const reason = 'the instance restarted before its judgement ended: the numbers from before the change are gone';
  recordJudged(stateDir, judging, reason, judging.key);
  const previous = judging.previous && !resumeProblem(stateDir, judging.previous, trustKeys) ? judging.previous : undefined;
  restoreApplied(stateDir, previous);
  return { ...(previous ? { applied: previous } : {}), interrupted: { version: judging.version, checksum: judging.checksum, reason } };
}
