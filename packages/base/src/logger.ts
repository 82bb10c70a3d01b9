/** The logger every package takes: pino fits it, and so does a test's recorder. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** A logger that adds these fields to every line (pino's child); JSON logs carry them as fields. */
  child?(fields: Record<string, unknown>): Logger;
}

/**
 * The logger with these fields on every line when it can carry fields; the logger itself otherwise.
 * An `err` with a code also gives the line a top-level `code`: an alert matches one field.
 */
export function withFields<L extends Logger | undefined>(log: L, fields: Record<string, unknown>): L {
  if (!log?.child) return log;
  const code = fields.code ?? (fields.err as { code?: unknown } | undefined)?.code;
  return log.child(typeof code === 'string' ? { ...fields, code } : fields) as L;
}
