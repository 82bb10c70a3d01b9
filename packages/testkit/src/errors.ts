// One error type for every launcher, so a failed start says which service, why, and what it logged.
import { existsSync, readFileSync } from 'node:fs';

export type LauncherErrorCode =
  | 'MISSING_BINARY' // the Debian package is not installed
  | 'EXITED' // the process died while starting
  | 'TIMEOUT' // a bounded wait ran out
  | 'SETUP' // a setup step (mariadb-install-db, SQL, a socket path) failed
  | 'NO_STATS_SOCKET' // a runtime command without a stats socket in the config
  | 'WRONG_TIER'; // a test file's name puts it in a tier that does not start this service

export class LauncherError extends Error {
  readonly code: LauncherErrorCode;
  constructor(code: LauncherErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LauncherError';
    this.code = code;
  }
}

/** The last lines of a log file, ready to append to an error message ('' if there is none). */
export function logTail(log: string | undefined, lines = 15): string {
  if (!log || !existsSync(log)) return '';
  const text = readFileSync(log, 'utf8').trimEnd();
  return text ? `\n--- last lines of ${log} ---\n${text.split('\n').slice(-lines).join('\n')}` : '';
}
