import { createConsulStore, type ConsulStoreOptions } from './consul/index.js';
import { createEtcdStore, type EtcdStoreOptions } from './etcd/index.js';
import { KVError } from './errors.js';
import { createFileStore, type FileStoreOptions } from './file/index.js';
import type { KVStore } from './types.js';

export type StoreOptions =
  | ({ backend: 'consul' } & ConsulStoreOptions)
  | ({ backend: 'file' } & FileStoreOptions)
  | ({ backend: 'etcd' } & EtcdStoreOptions);

/** The one place that knows every backend: everything above the seam calls this. */
export function openStore(opts: StoreOptions): KVStore {
  switch (opts.backend) {
    case 'consul':
      return createConsulStore(opts);
    case 'file':
      return createFileStore(opts);
    case 'etcd':
      return createEtcdStore(opts);
    default:
      throw new KVError('KV_CONFIG', `unknown backend "${(opts as { backend: string }).backend}" (consul, file, etcd)`);
  }
}
