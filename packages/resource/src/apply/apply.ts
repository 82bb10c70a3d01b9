// The last two stages of a resource: stage/check/swap its file (after the runtime API, when that is
// its strategy), then apply what the pass swapped. The results are data.
import type { FieldLogger } from '@confd-haproxy/kv';
import type { CommandResult } from '@confd-haproxy/runner';
import { stageAndSwap, type ResourceResult, type SwapOptions, type SwapResult } from '../pipeline.js';
import { reloadAll, type ReloadOptions, type ReloadWaiter } from './reload-cmd.js';
import { applyBeforeSwap } from './runtime-api.js';
import type { ApplyStrategy, Change } from './strategy.js';

/** A resource after its swap: what is left to apply, and the runtime commands already applied. */
export interface Swapped {
  change: Change;
  swap: SwapResult;
  /** What is left to do after the swap. */
  after: ApplyStrategy;
  runtime?: string[];
}

/** The runtime API first when that is the strategy, then stage, check and swap the file. */
export async function swapChange(change: Change, strategy: ApplyStrategy, opts: SwapOptions & { logger: FieldLogger }): Promise<Swapped> {
  const { runtime, after } = await applyBeforeSwap(strategy, change.resource.dest, opts.logger);
  const swap = await stageAndSwap(change.resource, change.rendered, opts);
  return { change, swap, after, ...(runtime ? { runtime } : {}) };
}

/** A resource waits for its reload_cmd only when this pass changed its file without an error. */
function waiter(s: Swapped): ReloadWaiter | undefined {
  if (s.after.kind !== 'reload-cmd' || !s.swap.changed || s.swap.error) return undefined;
  return { command: s.after.command, swap: s.swap, ...(s.change.resource.commandTimeoutMs !== undefined ? { timeoutMs: s.change.resource.commandTimeoutMs } : {}) };
}

function resultOf(s: Swapped): ResourceResult {
  const { rollback: _rollback, previous: _previous, ...data } = s.swap;
  return { ...data, reloaded: false, rolledBack: false, ...(s.runtime ? { runtime: s.runtime } : {}) };
}

/** The apply stage of a pass: runs the reloads the swapped resources wait for; one result per swapped resource, in order. */
export async function applySwapped(swapped: readonly Swapped[], opts: ReloadOptions = {}): Promise<{ results: ResourceResult[]; reloads: CommandResult[] }> {
  const results = swapped.map(resultOf);
  const waiters = swapped.map(waiter);
  const outcomes = await reloadAll(waiters.filter((w): w is ReloadWaiter => w !== undefined), opts);
  for (const o of outcomes) {
    waiters.forEach((w, i) => {
      if (!w || w.command !== o.command) return;
      const res = results[i]!;
      res.commands = [...res.commands, o.result];
      res.reloaded = o.result.ok;
      res.rolledBack = !o.result.ok && o.restored.includes(w.swap.dest);
      if (o.error) res.error = o.error;
    });
  }
  return { results, reloads: outcomes.map((o) => o.result) };
}
