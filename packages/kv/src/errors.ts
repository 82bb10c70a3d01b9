import { codedErrorClass } from '@confd-haproxy/base';

export type KVErrorCode =
  /** The store could not be reached (refused, reset, timed out). */
  | 'KV_UNREACHABLE'
  /** The token may not do this (Consul 403). */
  | 'KV_FORBIDDEN'
  /** The store answered with a server error (5xx, 429). */
  | 'KV_SERVER'
  /** The store's own data cannot be read (corrupt file store). */
  | 'KV_CORRUPT'
  /** The caller passed something the store refuses (bad key, value too large, bad options). */
  | 'KV_BAD_REQUEST'
  /** The operation was aborted through its AbortSignal. */
  | 'KV_ABORTED'
  /** Options given to a backend are wrong (bad address, unreadable token file). */
  | 'KV_CONFIG';

/** The codes listed are bad input (exit 65); the rest are failures. */
export class KVError extends codedErrorClass<KVErrorCode>('KVError', ['KV_CORRUPT', 'KV_CONFIG']) {}

export function isKVError(err: unknown, code?: KVErrorCode): err is KVError {
  return err instanceof KVError && (code === undefined || err.code === code);
}

/** Throw KV_ABORTED when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new KVError('KV_ABORTED', 'aborted', { cause: signal.reason });
}
