import { createConsulStore, type ConsulStoreOptions } from './consul/index.js';
import { createEtcdStore, type EtcdStoreOptions } from './etcd/index.js';
import { KVError } from './errors.js';
import { createFileStore, type FileStoreOptions } from './file/index.js';
import type { KVStore } from './types.js';
import { createYamlStore, type YamlStoreOptions } from './yaml/index.js';

/** One backend's own options, named by `backend`; each backend sets its defaults itself. */
export type StoreOptions =
  | ({ backend: 'consul' } & ConsulStoreOptions)
  /** `file` is the JSON store; `files` are confd's YAML files and directories (read-only). */
  | ({ backend: 'file' } & (FileStoreOptions | YamlStoreOptions))
  | ({ backend: 'etcd' } & EtcdStoreOptions);

export type StoreBackend = StoreOptions['backend'];

// The one table of backends: a new backend is its folder and a line here.
const OPENERS: { [B in StoreBackend]: (opts: Extract<StoreOptions, { backend: B }>) => KVStore } = {
  consul: createConsulStore,
  etcd: createEtcdStore,
  file: (o) => ('files' in o ? createYamlStore(o) : createFileStore(o)),
};

/** Every backend openStore can open, in the order messages list them. */
export const STORE_BACKENDS = Object.keys(OPENERS) as readonly StoreBackend[];

export function isStoreBackend(name: string): name is StoreBackend {
  return Object.hasOwn(OPENERS, name);
}

/** The one place that knows every backend: everything above the seam calls this. */
export function openStore(opts: StoreOptions): KVStore {
  const backend: string = opts.backend;
  if (!isStoreBackend(backend)) throw new KVError('KV_CONFIG', `unknown backend "${backend}" (${STORE_BACKENDS.join(', ')})`);
  return (OPENERS[backend] as (o: StoreOptions) => KVStore)(opts);
}
