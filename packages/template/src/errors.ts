export type TemplateErrorCode =
  /** The template does not parse. */
  | 'TEMPLATE_SYNTAX'
  | 'TEMPLATE_NOT_FOUND'
  | 'TEMPLATE_PARTIAL'
  /** A helper failed, or the template called a helper that does not exist. */
  | 'TEMPLATE_HELPER'
  | 'TEMPLATE_MISSING_KEY'
  /** A KV value is not what the template needs (e.g. not JSON). */
  | 'TEMPLATE_BAD_VALUE'
  /** A KV value with CR, LF or NUL reached the output. */
  | 'TEMPLATE_INJECTION';

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  readonly code: TemplateErrorCode;
  constructor(code: TemplateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
