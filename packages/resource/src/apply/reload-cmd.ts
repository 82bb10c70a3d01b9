// The reload_cmd strategy: after every swap of a pass, each distinct command runs once; when it
// fails, every resource that depended on it gets its previous dest back.
import { DEFAULT_COMMAND_TIMEOUT_MS } from '@confd-haproxy/base';
import { withFields, type FieldLogger } from '@confd-haproxy/kv';
import { dedupeCommands, describeFailure, runCommand, type CommandResult } from '@confd-haproxy/runner';
import { invocation, type CommandMode } from '../command-policy.js';
import { ResourceError } from '../errors.js';
import { commandOutput, errorMessage, type SwapResult } from '../pipeline.js';

export interface ReloadOptions {
  /** Unless the resource sets command_timeout. Default 30 s. */
  commandTimeoutMs?: number;
  /** The environment of reload_cmd. */
  env?: Record<string, string | undefined>;
  /** How reload_cmd runs (command-policy.ts): through /bin/sh (the default, as confd) or as argv words. */
  commandMode?: CommandMode;
  logger?: FieldLogger;
}

/** A swapped resource waiting for `command`. */
export interface ReloadWaiter {
  command: string;
  swap: SwapResult;
  /** The resource's command_timeout. */
  timeoutMs?: number;
}

export interface ReloadOutcome {
  command: string;
  result: CommandResult;
  error?: ResourceError;
  /** Every waiter's dest was put back. */
  rolledBack: boolean;
  /** The dests put back. */
  restored: string[];
  /** The dests that waited for this command. */
  dests: string[];
}

/** A command that was not run (stageAndSwap refuses such a resource before its swap, so only a direct caller meets this). */
function refusedResult(command: string, problem: string): CommandResult {
  const notStarted = `not plain words (${problem}): it runs without a shell`;
  return { command, ok: false, exitCode: undefined, signal: undefined, timedOut: false, aborted: false, stdout: '', stderr: '', durationMs: 0, notStarted };
}

/** Run a reload command; on failure roll back every swap that depended on it. */
export async function reloadOrRollback(
  command: string,
  swaps: readonly SwapResult[],
  opts: ReloadOptions & { timeoutMs?: number },
): Promise<{ result: CommandResult; error?: ResourceError; rolledBack: boolean; restored: string[] }> {
  const run = invocation(command, opts.commandMode ?? 'shell');
  const result =
    'problem' in run
      ? refusedResult(command, run.problem)
      : await runCommand(run.command, {
          ...(run.argv ? { argv: run.argv } : {}),
          timeoutMs: opts.timeoutMs ?? opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
          ...(opts.env ? { env: opts.env } : {}),
          ...(opts.logger ? { logger: opts.logger } : {}),
        });
  if (result.ok) return { result, rolledBack: false, restored: [] };
  const restored: string[] = [];
  const notOurs: string[] = [];
  const failures: string[] = [];
  for (const s of swaps) {
    try {
      if (await s.rollback()) restored.push(s.dest);
      else notOurs.push(s.dest);
    } catch (err) {
      failures.push(`${s.dest}: ${errorMessage(err)}`);
    }
  }
  const told = [
    restored.length ? `restored the previous ${restored.join(', ')}` : '',
    notOurs.length ? `left ${notOurs.join(', ')} as it is: another writer changed it after this pass wrote it` : '',
    failures.length ? `could not restore ${failures.join('; ')}` : '',
  ].filter(Boolean);
  return {
    result,
    rolledBack: restored.length === swaps.length,
    restored,
    error: new ResourceError('RESOURCE_RELOAD_FAILED', `reload_cmd "${command}" ${describeFailure(result)}; ${told.join('; ')}${commandOutput(result)}`),
  };
}

/**
 * Identical reload commands of several resources run once (in the order first seen), bounded by the
 * longest command_timeout among them. No signal: a swapped dest is reloaded, never half-applied.
 */
export async function reloadAll(waiters: readonly ReloadWaiter[], opts: ReloadOptions = {}): Promise<ReloadOutcome[]> {
  const outcomes: ReloadOutcome[] = [];
  for (const command of dedupeCommands(waiters.map((w) => w.command))) {
    const group = waiters.filter((w) => w.command === command);
    const timeoutMs = Math.max(...group.map((w) => w.timeoutMs ?? opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS));
    const r = await reloadOrRollback(command, group.map((w) => w.swap), { ...opts, timeoutMs });
    const dests = group.map((w) => w.swap.dest);
    logReload(opts.logger, command, dests, r);
    outcomes.push({ command, ...r, dests });
  }
  return outcomes;
}

function logReload(log: FieldLogger | undefined, command: string, dests: string[], r: { result: CommandResult; error?: ResourceError }): void {
  if (!log) return;
  const fields = { dest: dests.join(','), durationMs: r.result.durationMs };
  if (r.error) withFields(log, { ...fields, outcome: 'reload failed', err: r.error }).error(r.error.message);
  else withFields(log, { ...fields, outcome: 'reloaded' }).info(`reloaded: ${command}`);
}
