// One error model for every package: an error carries a code (what happened) and a category (what
// kind of failure it is); the category alone decides the exit code.

/**
 * Every kind of failure an error can be, with its exit code: the one table. A new exit code is a
 * line here (and a row in the README's "Exit codes"); the category type and the check follow.
 */
export const CATEGORY_EXIT_CODES = {
  /** The job failed: render, check, reload, store. */
  failure: 1,
  /** Bad usage: unknown flag, bad flag value. */
  usage: 64,
  /** Bad input: config file, template, KV data. */
  data: 65,
  /** An input file that does not exist (--file). */
  noinput: 66,
} as const;

/** What kind of failure an error is. */
export type ErrorCategory = keyof typeof CATEGORY_EXIT_CODES;

/** How a run ended: fine, with changes pending (`plan`), or failed in one of the categories. */
export type Outcome = 'ok' | 'pending' | ErrorCategory;

const isCategory = (c: unknown): c is ErrorCategory => typeof c === 'string' && Object.hasOwn(CATEGORY_EXIT_CODES, c);

/** The base of every error the packages throw on purpose. */
export class ConfdError<C extends string = string> extends Error {
  readonly code: C;
  readonly category: ErrorCategory;
  constructor(code: C, category: ErrorCategory, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.category = category;
  }
}

/** What codedErrorClass makes: an error class of one package's codes. */
export type CodedErrorClass<C extends string> = new (code: C, message: string, options?: { cause?: unknown }) => ConfdError<C>;

/**
 * The error class of a package whose codes decide the category: the codes in `dataCodes` are bad
 * input (exit 65), every other code a failure. `class KVError extends codedErrorClass<KVErrorCode>('KVError', [...]) {}`.
 */
export function codedErrorClass<C extends string>(name: string, dataCodes: readonly C[]): CodedErrorClass<C> {
  const data: ReadonlySet<string> = new Set(dataCodes);
  return class extends ConfdError<C> {
    override readonly name = name;
    constructor(code: C, message: string, options?: { cause?: unknown }) {
      super(code, data.has(code) ? 'data' : 'failure', message, options);
    }
  };
}

/** A usage error: the bin prints it and exits 64. */
export class UsageError extends ConfdError<'USAGE'> {
  override readonly name = 'UsageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', 'usage', message, options);
  }
}

/** An input file is missing: the bin prints it and exits 66. */
export class NoInputError extends ConfdError<'NOINPUT'> {
  override readonly name = 'NoInputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOINPUT', 'noinput', message, options);
  }
}

/** Whether err is one of ours (by shape, so two copies of this package still agree). */
export function isConfdError(err: unknown): err is ConfdError {
  if (!(err instanceof Error)) return false;
  const e = err as Partial<ConfdError>;
  return typeof e.code === 'string' && isCategory(e.category);
}

/** The category of any thrown value; anything not ours is a failure. */
export function categoryOf(err: unknown): ErrorCategory {
  return isConfdError(err) ? err.category : 'failure';
}

export const isUsageError = (err: unknown): err is ConfdError => categoryOf(err) === 'usage';
export const isDataError = (err: unknown): err is ConfdError => categoryOf(err) === 'data';
export const isNoInputError = (err: unknown): err is ConfdError => categoryOf(err) === 'noinput';
