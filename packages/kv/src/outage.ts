// How a store outage is logged: once when it starts, a count at a bounded rate while it lasts,
// once when it ends; every failure in between is debug. Shared by the renderer and the checkers.
import type { Logger } from '@confd-haproxy/base';

/** The shared Logger under the name this package used before it existed. */
export type FieldLogger = Logger;

/** The logger with these fields on every line when it can carry fields; the logger itself otherwise. */
export function withFields<L extends FieldLogger>(log: L, fields: Record<string, unknown>): L {
  return (log.child ? log.child(fields) : log) as L;
}

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
      const e = withFields(log, { err, failures });
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
