export type CheckerErrorCode =
  /** db.conf, flags or targets are wrong: exit 65 (64 for flags). */
  | 'CHECKER_CONFIG'
  /** Another copy already checks this tag on this host. */
  | 'CHECKER_LOCKED';

export class CheckerError extends Error {
  override readonly name = 'CheckerError';
  readonly code: CheckerErrorCode;
  constructor(code: CheckerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
