// The one map from how a run ended to the exit code (README: "Exit codes").
import { CATEGORY_EXIT_CODES, categoryOf, type Outcome } from './errors.js';

/** Outcome → exit code: the two outcomes that are no failure, and every category's own code. */
export const EXIT_CODES = {
  ok: 0,
  pending: 2,
  ...CATEGORY_EXIT_CODES,
} as const satisfies Record<Outcome, number>;

/** The exit-code table by name, for the bins. */
export const EXIT = {
  OK: EXIT_CODES.ok,
  /** The job failed: render, check, reload, store. */
  FAILED: EXIT_CODES.failure,
  /** `plan`: changes are pending (`-noop` exits 0, as confd). */
  PENDING: EXIT_CODES.pending,
  /** Bad usage: unknown flag, bad flag value. */
  USAGE: EXIT_CODES.usage,
  /** Bad input: config file, template, KV data. */
  DATA: EXIT_CODES.data,
  /** An input file that does not exist (--file). */
  NOINPUT: EXIT_CODES.noinput,
  /** checkmemcached without --server/--consul, as the original. */
  MEMCACHED_USAGE: 254,
} as const;

/** A second SIGTERM/SIGINT exits at once with 128 + the signal's number, as a shell reports it. */
export const signalExitCode = (signo: number): number => 128 + signo;

/** The exit code for a thrown value: its category's code (not ours: 1). */
export function exitCodeOf(err: unknown): number {
  return EXIT_CODES[categoryOf(err)];
}

/** The exit code for a set of errors: 0 when none, the data code when all are bad input, else 1. */
export function exitCodeOfAll(errors: readonly unknown[]): number {
  if (errors.length === 0) return EXIT_CODES.ok;
  return errors.every((e) => categoryOf(e) === 'data') ? EXIT_CODES.data : EXIT_CODES.failure;
}
