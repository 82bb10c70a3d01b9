export type ResourceErrorCode =
  | 'RESOURCE_INVALID'
  | 'RESOURCE_DUPLICATE_DEST'
  /** A command or dest outside the renderer's --allow-command / --allow-dest. */
  | 'RESOURCE_NOT_ALLOWED'
  | 'RESOURCE_WRITE_FAILED'
  | 'RESOURCE_CHECK_FAILED'
  | 'RESOURCE_RELOAD_FAILED';

export class ResourceError extends Error {
  override readonly name = 'ResourceError';
  readonly code: ResourceErrorCode;
  constructor(code: ResourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
