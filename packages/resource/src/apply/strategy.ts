// How a resource's change reaches the running service, chosen per resource before its file is swapped.
import { planRuntimeUpdate } from '@confd-haproxy/runner';
import type { ResourceConfig } from '../load.js';

/** One resource's rendered change: what dest held before this pass and what it is to hold. */
export interface Change {
  resource: ResourceConfig;
  /** dest's content before this pass (undefined when it did not exist). */
  previous: string | undefined;
  rendered: string;
}

/**
 * - `runtime-api`: only server addresses, weights or states changed; `commands` go to the runtime
 *   socket before the file is checked and swapped; when the API refuses, `otherwise` applies.
 * - `reload-cmd`: after the swap, once per distinct command in a pass; a failure rolls back.
 * - `none`: noop, sync-only, or no reload_cmd; `why` says which.
 * `notRuntime`: why a resource with a runtime socket needs more than the runtime API this time.
 */
export type ApplyStrategy =
  | { kind: 'runtime-api'; socket: string; commands: string[]; otherwise: ApplyStrategy }
  | { kind: 'reload-cmd'; command: string; notRuntime?: string }
  | { kind: 'none'; why: string; notRuntime?: string };

export interface ChooseOptions {
  /** Compute the diff only: nothing is applied. */
  noop?: boolean;
  /** Write dest only: nothing is applied. */
  syncOnly?: boolean;
}

/** The strategy for one change: the runtime API when it can take the whole change, reload_cmd otherwise. */
export function chooseApply(change: Change, opts: ChooseOptions = {}): ApplyStrategy {
  if (opts.noop) return { kind: 'none', why: 'noop' };
  if (opts.syncOnly) return { kind: 'none', why: 'sync-only' };
  const { resource: r, previous, rendered } = change;
  const plan = !r.runtimeSocket || previous === undefined || previous === rendered ? undefined : planRuntimeUpdate(previous, rendered);
  const notRuntime = plan && 'reload' in plan ? { notRuntime: plan.reload } : {};
  const reload: ApplyStrategy = r.reloadCmd?.trim() ? { kind: 'reload-cmd', command: r.reloadCmd, ...notRuntime } : { kind: 'none', why: 'no reload_cmd', ...notRuntime };
  if (plan && 'commands' in plan) return { kind: 'runtime-api', socket: r.runtimeSocket!, commands: plan.commands, otherwise: reload };
  return reload;
}
