// One check per flag that needs more than a parse: each returns the flag's value as the
// subcommands use it, or throws a UsageError that names the flag.
import { DEFAULT_RENDER_MAX_SIZE, DEFAULT_RENDER_TIMEOUT } from '@confd-haproxy/base';
import { environmentProblem, privateStateDir, readTrustKey, type LocalPolicy, type TrustedKey } from '@confd-haproxy/fleet';
import { patternProblem } from '@confd-haproxy/resource';
import { defaultStateDir, parseDuration, parseSize, UsageError } from '../../common.js';
import { hostPolicy } from '../../host-policy.js';
import type { Flags, Mode } from './flags.js';

/** What this renderer runs: bundles signed by a trusted key, commands and dests within the local policy. */
export interface LocalTrust {
  trustKeys: TrustedKey[];
  policy: LocalPolicy;
}

/** --trust-key (only with --config-from-store), --allow-command, --allow-dest and the rest of the policy: read and checked at start and on SIGHUP. */
export function localTrust(flags: Flags): LocalTrust {
  if (flags.trustKey.length && !flags.configFromStore) throw new UsageError('--trust-key applies to bundles: it needs --config-from-store');
  const empty = flags.allowCommand.find((p) => !p.trim());
  if (empty !== undefined) throw new UsageError('--allow-command: an empty pattern');
  const unreadable = flags.allowCommand.map(patternProblem).find(Boolean);
  if (unreadable) throw new UsageError(`--allow-command: ${unreadable}`);
  return { trustKeys: flags.trustKey.map(readTrustKey), policy: { allowCommands: flags.allowCommand, ...hostPolicy(flags) } };
}

/** --command-env: variable names, checked. */
export function commandEnvNames(names: string[]): string[] {
  const bad = names.find((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
  if (bad !== undefined) throw new UsageError(`--command-env: "${bad}" is not a variable name`);
  return names;
}

/** --environment names bundles: a run takes it only with --config-from-store, push signs it. */
export function environmentFlag(flags: Flags, mode: Mode): void {
  if (mode === 'run' && !flags.configFromStore) throw new UsageError('--environment applies to bundles: it needs --config-from-store (or push)');
  const problem = environmentProblem(flags.environment!);
  if (problem) throw new UsageError(`--environment "${flags.environment}": ${problem}`);
}

/** --state-dir (or the default), refused unless private to this user; made 0700 by the modes that write it. */
export function stateDirFlag(flags: Flags, mode: Mode): string {
  const dir = flags.stateDir ?? defaultStateDir();
  privateStateDir(dir, { create: (mode === 'run' && !flags.noop) || mode === 'push' });
  return dir;
}

/** --render-timeout and --render-max-size: a limit of 0 would fail every render. */
export function renderBudgetFlags(flags: Flags): { timeoutMs: number; maxBytes: number } {
  const timeoutMs = parseDuration(flags.renderTimeout ?? DEFAULT_RENDER_TIMEOUT, '--render-timeout', 's');
  const maxBytes = parseSize(flags.renderMaxSize ?? DEFAULT_RENDER_MAX_SIZE, '--render-max-size');
  if (timeoutMs <= 0) throw new UsageError('--render-timeout must be above 0');
  if (maxBytes <= 0) throw new UsageError('--render-max-size must be above 0');
  return { timeoutMs, maxBytes };
}

/** --wait min[:max]; max defaults to ten times min. */
export function parseWait(text: string): { minMs: number; maxMs: number } {
  const [min, max] = text.split(':');
  const minMs = parseDuration(min ?? '', '--wait', 's');
  const maxMs = max ? parseDuration(max, '--wait', 's') : Math.max(minMs * 10, minMs);
  if (maxMs < minMs) throw new UsageError(`--wait: max (${max}) is below min (${min})`);
  return { minMs, maxMs };
}

/** --diffs-before-sync: reads of the same new bundle version before it is adopted. */
export function diffsBeforeSyncFlag(flags: Flags): number {
  const diffs = Number(flags.diffsBeforeSync ?? '3');
  if (!Number.isInteger(diffs) || diffs < 1) throw new UsageError(`--diffs-before-sync: "${flags.diffsBeforeSync}" is not a whole number ≥ 1`);
  return diffs;
}
