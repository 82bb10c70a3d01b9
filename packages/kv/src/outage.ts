// How a store outage is logged: once when it starts, a count at a bounded rate while it lasts,
// once when it ends; every failure in between is debug. Shared by the renderer and the checkers.
import { withFields, type Logger } from '@confd-haproxy/base';

export { withFields };

/** The shared Logger under the name this package used before it existed. */
export type FieldLogger = Logger;

export interface OutageLog {
  /** A failure: the first one of an outage is a warning, the rest a count every `everyMs`. */
  failed(err: unknown, detail?: string): void;
  /** A success: ends an outage (one info line), otherwise nothing. */
  ok(): void;
  readonly failing: boolean;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function outageLog(log: FieldLogger, what: string, opts: { everyMs?: number; now?: () => number } = {}): OutageLog {
  const everyMs = opts.everyMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let since = 0;
  let failures = 0;
  let told = 0;
  let lastReport = 0;
  return {
    get failing() {
      return failures > 0;
    },
    failed(err, detail) {
      failures++;
      const t = now();
      const e = withFields(log, { err, failures, code: 'STORE_UNAVAILABLE' });
      if (failures === 1) {
        since = t;
        lastReport = t;
        told = 1;
        e.warn(`${what}: ${detail ?? messageOf(err)} (outage started; next report in ${Math.round(everyMs / 1000)} s unless it ends)`);
        return;
      }
      if (t - lastReport < everyMs) return e.debug(`${what}: ${detail ?? messageOf(err)}`);
      e.warn(`${what}: still failing, ${failures - told} more failure(s) in the last ${Math.round((t - lastReport) / 1000)} s, ${failures} since the outage started ${Math.round((t - since) / 1000)} s ago: ${messageOf(err)}`);
      told = failures;
      lastReport = t;
    },
    ok() {
      if (failures === 0) return;
      withFields(log, { failures, durationMs: now() - since }).info(`${what}: recovered after ${failures} failure(s) in ${Math.round((now() - since) / 1000)} s`);
      failures = 0;
    },
  };
}

/** One outage log over many watches of one store: `source(name)` is each watch's handle. */
export interface SharedOutageLog {
  source(name: string): OutageLog;
  /** Forget the watches not in `names` (they stopped): an outage only they had ends. */
  retain(names: readonly string[]): void;
}

/**
 * A store that fails fails for every watch at once (a corrupt file, a dead agent): the outage is
 * told once when the first watch fails and once when none fails any more, not once per prefix.
 */
export function sharedOutageLog(log: FieldLogger, what: string, opts: { everyMs?: number; now?: () => number } = {}): SharedOutageLog {
  const outage = outageLog(log, what, opts);
  const failing = new Set<string>();
  const recovered = (name: string) => {
    if (failing.delete(name) && failing.size === 0) outage.ok();
  };
  return {
    source: (name) => ({
      get failing() {
        return failing.has(name);
      },
      failed(err, detail) {
        failing.add(name);
        outage.failed(err, `${name}: ${detail ?? messageOf(err)}`);
      },
      ok: () => recovered(name),
    }),
    retain(names) {
      for (const name of [...failing]) if (!names.includes(name)) recovered(name);
    },
  };
}
