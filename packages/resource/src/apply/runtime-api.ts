// The runtime-API strategy: `set server` commands on HAProxy's admin socket instead of a reload.
import { withFields } from '@confd-haproxy/base';
import { applyRuntimeUpdate, type RunnerLogger } from '@confd-haproxy/runner';
import type { ApplyStrategy } from './strategy.js';

/** What the runtime API did: the commands it took, and what is left for after the swap. */
export interface RuntimeOutcome {
  /** The commands HAProxy applied (undefined: the API was not used, or refused). */
  runtime?: string[];
  /** The strategy left for after the swap: `none` once the API took the change. */
  after: ApplyStrategy;
}

/**
 * Runs before the file is checked and swapped (HAProxy refuses a bad value itself), so check_cmd
 * is not on a failover's path. A refusal falls back to the strategy's `otherwise`.
 */
export async function applyBeforeSwap(strategy: ApplyStrategy, dest: string, log: RunnerLogger): Promise<RuntimeOutcome> {
  if (strategy.kind !== 'runtime-api') {
    if (strategy.notRuntime) log.debug(`${dest}: reload needed: ${strategy.notRuntime}`);
    return { after: strategy };
  }
  const applied = await applyRuntimeUpdate(strategy.socket, strategy.commands);
  if (!applied.ok) {
    withFields(log, { code: 'RUNTIME_API_REFUSED', dest, err: { message: applied.error } }).warn(`${dest}: the runtime API refused (${applied.error}); reloading instead`);
    return { after: strategy.otherwise };
  }
  log.info(`${dest}: applied through the runtime API without a reload: ${strategy.commands.join('; ') || 'nothing to set'}`);
  return { runtime: strategy.commands, after: { kind: 'none', why: 'applied through the runtime API' } };
}
