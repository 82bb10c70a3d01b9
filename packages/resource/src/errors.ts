export type ResourceErrorCode =
  | 'RESOURCE_INVALID'
  | 'RESOURCE_DUPLICATE_DEST'
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
