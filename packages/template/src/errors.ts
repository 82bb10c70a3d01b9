import { ConfdError } from '@confd-haproxy/base';

export type TemplateErrorCode =
  /** The template does not parse. */
  | 'TEMPLATE_SYNTAX'
  /** The template file cannot be read. */
  | 'TEMPLATE_NOT_FOUND'
  /** A partial is missing, cannot be read, or two partials share a name. */
  | 'TEMPLATE_PARTIAL'
  /** A helper failed, was misused, or does not exist. */
  | 'TEMPLATE_HELPER'
  /** `get`/`getv` (without default) asked for a key the store does not hold. */
  | 'TEMPLATE_MISSING_KEY'
  /** A KV value is not what the template needs (e.g. not JSON). */
  | 'TEMPLATE_BAD_VALUE'
  /** A value holding CR, LF or NUL reached the output. */
  | 'TEMPLATE_INJECTION'
  /** The template asked for something the instance does not let it read (getenv of a name not allowed). */
  | 'TEMPLATE_NOT_ALLOWED'
  /** The render computed longer than its time limit (budget.ts). */
  | 'TEMPLATE_TIMEOUT'
  /** The output grew past its size limit, or the render past its memory (budget.ts). */
  | 'TEMPLATE_TOO_LARGE'
  /** A Go template uses something confd would render but this engine cannot render byte for byte: refused. */
  | 'TEMPLATE_UNSUPPORTED';

export interface TemplateErrorDetails {
  cause?: unknown;
  /** The template file, relative to templatesDir when inside it. */
  file?: string;
  line?: number;
  column?: number;
  /** The KV key (or catalog item: `service:web@dc1/node/id`) the problem came from, when known. */
  key?: string;
}

/** Message: `<file>[:<line>[:<column>]]: <what was wrong>`. */
export class TemplateError extends ConfdError<TemplateErrorCode> {
  override readonly name = 'TemplateError';
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly key: string | undefined;
  constructor(code: TemplateErrorCode, message: string, details: TemplateErrorDetails = {}) {
    super(code, 'data', message, details.cause === undefined ? undefined : { cause: details.cause });
    this.file = details.file;
    this.line = details.line;
    this.column = details.column;
    this.key = details.key;
  }
}

/**
 * A render that may leave catalog items out met catalog strings it must not write: it is rendered
 * again without them. Message and key: the first refusal's.
 */
export class CatalogRefusal extends TemplateError {
  /** Item key (an instance's, a listed service's) → "<file>:<line>:<column>: <what was wrong>". */
  readonly refused: ReadonlyMap<string, string>;
  constructor(refused: ReadonlyMap<string, string>) {
    const [key, message] = [...refused][0]!;
    super('TEMPLATE_INJECTION', message, { key });
    this.refused = refused;
  }
}

/** Where in a template something happened (Handlebars' 1-based line, 0-based column). */
export interface TemplateLocation {
  file?: string;
  line?: number;
  column?: number;
}

/** Thrown inside a render; the engine turns it into a TemplateError with the location in front. */
export class TemplateProblem extends ConfdError<TemplateErrorCode> {
  readonly key: string | undefined;
  at: TemplateLocation | undefined;
  constructor(code: TemplateErrorCode, message: string, opts: { key?: string; cause?: unknown; at?: TemplateLocation } = {}) {
    super(code, 'data', message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.key = opts.key;
    this.at = opts.at;
  }
}

export function formatLocation(at: TemplateLocation | undefined, fallbackFile: string): string {
  const file = at?.file || fallbackFile;
  if (at?.line === undefined) return file;
  return at.column === undefined ? `${file}:${at.line}` : `${file}:${at.line}:${at.column + 1}`;
}

export function toTemplateError(p: TemplateProblem, fallbackFile: string): TemplateError {
  return new TemplateError(p.code, `${formatLocation(p.at, fallbackFile)}: ${p.message}`, {
    cause: p.cause ?? p,
    file: p.at?.file || fallbackFile,
    line: p.at?.line,
    column: p.at?.column === undefined ? undefined : p.at.column + 1,
    key: p.key,
  });
}
