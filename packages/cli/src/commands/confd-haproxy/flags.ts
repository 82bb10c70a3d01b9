// The flags confd-haproxy's subcommands parse, as commander hands them over (before any check).
import type { RolloutFlags } from '../../rollout-flags.js';

/** The renderer's flags; the store's (any spelling, see store-flags.ts) come with them. */
export interface Flags extends RolloutFlags {
  [storeFlag: string]: unknown;
  backend?: string;
  onetime?: boolean;
  watch?: boolean;
  interval?: string;
  prefix?: string;
  confdir?: string;
  configFile?: string;
  noop?: boolean;
  syncOnly?: boolean;
  keepStageFile?: boolean;
  logLevel?: string;
  logFormat?: string;
  wait?: string;
  commandTimeout?: string;
  renderTimeout?: string;
  renderMaxSize?: string;
  debug?: boolean;
  allowStale?: boolean;
  listen?: string;
  stateDir?: string;
  json?: boolean;
  configFromStore?: boolean;
  diffsBeforeSync?: string;
  statusTtl?: string;
  fleet?: boolean;
  waitConverged?: string;
  resetHold?: string;
  trustKey: string[];
  allowCommand: string[];
  allowDest: string[];
  commandEnv: string[];
  allowDirective: string[];
  allowEnv: string[];
  allowOwner: string[];
  signKey?: string;
  allowSecrets?: boolean;
  environment?: string;
  rollbackTo?: string;
  statsSocket?: string;
}

/** A subcommand that reads these flags into settings (keygen and migrate read their own). */
export type Mode = 'run' | 'plan' | 'status' | 'push';
