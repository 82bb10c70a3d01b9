import { codedErrorClass } from '@confd-haproxy/base';

export type ResourceErrorCode =
  | 'RESOURCE_INVALID'
  | 'RESOURCE_DUPLICATE_DEST'
  /** A command or dest outside the renderer's --allow-command / --allow-dest. */
  | 'RESOURCE_NOT_ALLOWED'
  | 'RESOURCE_WRITE_FAILED'
  | 'RESOURCE_CHECK_FAILED'
  | 'RESOURCE_RELOAD_FAILED';

/** The codes listed are bad input (exit 65); the rest are failures. */
export class ResourceError extends codedErrorClass<ResourceErrorCode>('ResourceError', ['RESOURCE_INVALID', 'RESOURCE_DUPLICATE_DEST', 'RESOURCE_NOT_ALLOWED']) {}
