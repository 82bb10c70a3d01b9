// The one duration grammar of every flag and setting: Go's time.ParseDuration shape (1m30s, 1h30m,
// 1.5s, 500ms), as confd's flags take, or a bare number of `bareUnit`s. parse-duration computes the
// value; the regex keeps it to Go's shape (parse-duration alone would also take "2 days").
import parseGoDuration from 'parse-duration';

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const BARE = /^\d+(\.\d+)?$/;

/** Milliseconds (rounded) of "1m30s", "500ms", "2h", or a bare number of `bareUnit`s; undefined when it is none of these. */
export function durationMs(text: string | number, bareUnit: 'ms' | 's' = 's'): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.round(text * (bareUnit === 's' ? 1000 : 1)) : undefined;
  const s = String(text).trim();
  const ms = BARE.test(s) ? Number(s) * (bareUnit === 's' ? 1000 : 1) : GO_DURATION.test(s) ? parseGoDuration(s) : null;
  return ms === null || ms === undefined || !Number.isFinite(ms) ? undefined : Math.round(ms);
}
