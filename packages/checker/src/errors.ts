import { ConfdError } from '@confd-haproxy/base';

export type CheckerErrorCode =
  /** db.conf, flags or targets are wrong: exit 65 (64 for flags). */
  | 'CHECKER_CONFIG'
  /** Another copy already checks this tag on this host. */
  | 'CHECKER_LOCKED';

export class CheckerError extends ConfdError<CheckerErrorCode> {
  override readonly name = 'CheckerError';
  constructor(code: CheckerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, code === 'CHECKER_CONFIG' ? 'data' : 'failure', message, options);
  }
}
