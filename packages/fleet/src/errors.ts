import { codedErrorClass } from '@confd-haproxy/base';

export type FleetErrorCode =
  /** The bundle in the store is not a bundle (bad JSON, missing fields, a path outside conf.d/templates). */
  | 'FLEET_BAD_BUNDLE'
  /** A bundle that does not load, render or pass its checks: not pushed, not adopted. */
  | 'FLEET_BUNDLE_REFUSED'
  /** The state dir cannot hold the identity or the applied bundle. */
  | 'FLEET_STATE'
  /** The state dir or a file in it belongs to another user or is writable by others. */
  | 'FLEET_STATE_UNSAFE'
  /** A signing or trusted key that cannot be read or is not an Ed25519 key. */
  | 'FLEET_KEY';

/** The codes listed are bad input (exit 65); the rest are failures. */
export class FleetError extends codedErrorClass<FleetErrorCode>('FleetError', ['FLEET_BAD_BUNDLE', 'FLEET_BUNDLE_REFUSED', 'FLEET_KEY', 'FLEET_STATE_UNSAFE']) {}
