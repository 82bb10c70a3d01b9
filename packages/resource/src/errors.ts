import { ConfdError } from '@confd-haproxy/base';

export type ResourceErrorCode =
  | 'RESOURCE_INVALID'
  | 'RESOURCE_DUPLICATE_DEST'
  /** A command or dest outside the renderer's --allow-command / --allow-dest. */
  | 'RESOURCE_NOT_ALLOWED'
  | 'RESOURCE_WRITE_FAILED'
  | 'RESOURCE_CHECK_FAILED'
  | 'RESOURCE_RELOAD_FAILED';

/** Codes that mean bad input (exit 65); the rest are failures. */
const DATA: ReadonlySet<ResourceErrorCode> = new Set<ResourceErrorCode>(['RESOURCE_INVALID', 'RESOURCE_DUPLICATE_DEST', 'RESOURCE_NOT_ALLOWED']);

export class ResourceError extends ConfdError<ResourceErrorCode> {
  override readonly name = 'ResourceError';
  constructor(code: ResourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, DATA.has(code) ? 'data' : 'failure', message, options);
  }
}
