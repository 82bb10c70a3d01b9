import { ConfdError } from '@confd-haproxy/base';

export type GoTemplateErrorCode =
  /** The template does not parse (Go's own parse errors). */
  | 'GOTEMPLATE_SYNTAX'
  /** Executing failed as Go's would (a function's error, a wrong type, a missing template). */
  | 'GOTEMPLATE_EXEC'
  /** Go would render this, but not identically here: refused rather than written differently. */
  | 'GOTEMPLATE_UNSUPPORTED'
  /** The output grew past its size limit. */
  | 'GOTEMPLATE_TOO_LARGE';

/** Where in a template (1-based line and column). */
export interface GoLocation {
  file: string;
  line: number;
  column: number;
}

/** Message: `<file>:<line>:<column>: <what was wrong>`. */
export class GoTemplateError extends ConfdError<GoTemplateErrorCode> {
  override readonly name = 'GoTemplateError';
  readonly at: GoLocation | undefined;
  /** The message without the location in front. */
  readonly problem: string;
  constructor(code: GoTemplateErrorCode, problem: string, at?: GoLocation, options?: { cause?: unknown }) {
    super(code, 'data', at ? `${at.file}:${at.line}:${at.column}: ${problem}` : problem, options);
    this.at = at;
    this.problem = problem;
  }
}
