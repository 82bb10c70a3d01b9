/** The logger every package takes: pino fits it, and so does a test's recorder. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** A logger that adds these fields to every line (pino's child); JSON logs carry them as fields. */
  child?(fields: Record<string, unknown>): Logger;
}
