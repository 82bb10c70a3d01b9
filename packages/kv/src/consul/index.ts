import { KVError } from '../errors.js';
import type { KVStore } from '../types.js';

export interface ConsulStoreOptions {
  address?: string;
  scheme?: 'http' | 'https';
  token?: string;
  tokenFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
}

export function createConsulStore(_opts: ConsulStoreOptions = {}): KVStore {
  throw new KVError('KV_CONFIG', 'the consul backend is not built yet');
}
