// The one list of backends: a new backend is its folder (the store and its descriptor) and a line in
// STORE_DESCRIPTORS. Everything above the seam opens a store through here.
import { UsageError } from '@confd-haproxy/base';
import { consulDescriptor } from './consul/descriptor.js';
import { WRITE_CAPABILITIES, type KVReadStore, type StoreCapability, type StoreDescriptor } from './descriptor.js';
import { etcdDescriptor } from './etcd/descriptor.js';
import { KVError } from './errors.js';
import { fileDescriptor } from './file/descriptor.js';
import type { KVStore } from './types.js';

export const STORE_DESCRIPTORS = [consulDescriptor, etcdDescriptor, fileDescriptor] as const;

type OptionsOf<D> = D extends StoreDescriptor<infer O> ? O : never;
/** One backend's own options, named by `backend`; each backend sets its defaults itself. */
export type StoreOptions = OptionsOf<(typeof STORE_DESCRIPTORS)[number]>;
export type StoreBackend = StoreOptions['backend'];

/** Every backend openStore can open, in the order messages list them. */
export const STORE_BACKENDS: readonly StoreBackend[] = STORE_DESCRIPTORS.map((d) => d.backend);

export function isStoreBackend(name: string): name is StoreBackend {
  return (STORE_BACKENDS as readonly string[]).includes(name);
}

/** The descriptor of one backend. */
export function storeDescriptor(backend: string): StoreDescriptor {
  const d = STORE_DESCRIPTORS.find((x) => x.backend === backend);
  if (!d) throw new KVError('KV_CONFIG', `unknown backend "${backend}" (${STORE_BACKENDS.join(', ')})`);
  return d as unknown as StoreDescriptor;
}

/** What a store opened with these options can do. */
export function storeCapabilities(opts: StoreOptions): readonly StoreCapability[] {
  return storeDescriptor(opts.backend).capabilities(opts);
}

/**
 * Open the store. `need: 'write'` (a checker) refuses a store that cannot write and lock before
 * it is opened; otherwise a read-only store is opened, and a write through it fails naming it.
 */
export function openStore(opts: StoreOptions, need: 'read' | 'write' = 'read'): KVStore {
  const d = storeDescriptor(opts.backend);
  const caps = d.capabilities(opts);
  const missing = WRITE_CAPABILITIES.filter((c) => !caps.includes(c));
  if (need === 'write' && missing.length) {
    throw new UsageError(`--backend ${opts.backend}: ${'files' in opts ? "confd's YAML files are" : 'this store is'} read-only (it cannot ${missing.join(' or ')}); a checker writes its entry under a lock: use a store that can (consul, etcd, or the JSON file store)`);
  }
  const store = d.open(opts);
  return missing.length ? readOnly(store as KVReadStore) : (store as KVStore);
}

/** A read-only store as a KVStore whose writes fail naming it (the renderer reads; --config-from-store would write). */
function readOnly(store: KVReadStore): KVStore {
  const refuse = (what: string) => Promise.reject(new KVError('KV_CONFIG', `${store.describe} is read-only (${what})`));
  return {
    backend: store.backend,
    describe: store.describe,
    ...(store.catalog ? { catalog: store.catalog } : {}),
    list: (prefix, opts) => store.list(prefix, opts),
    get: (key, opts) => store.get(key, opts),
    watch: (prefix, since, opts) => store.watch(prefix, since, opts),
    close: () => store.close(),
    put: () => refuse('put'),
    delete: () => refuse('delete'),
    acquireLock: () => refuse('locks'),
  };
}
