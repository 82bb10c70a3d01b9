// A resource's declared catalog services → what the renderer watches ("service:web",
// "services:dc2") and the data its template's `service` and `services` read.
import {
  KVError,
  parseServiceQuery,
  watchHealth,
  watchServices,
  type CatalogReader,
  type HealthSnapshot,
  type KVInfo,
  type ServiceInstance,
  type ServicesSnapshot,
  type WatchCatalogOptions,
} from '@confd-haproxy/kv';
import type { ResourceConfig } from '@confd-haproxy/resource';
import type { ServiceData } from '@confd-haproxy/template';

export type CatalogSnapshot = HealthSnapshot | ServicesSnapshot;

const HEALTH = 'service:';
const LIST = 'services:';

/** What a resource watches in the catalog: each declared service, and the service list of each datacenter it names. */
export function catalogKeys(r: Pick<ResourceConfig, 'services'>): string[] {
  const services = r.services ?? [];
  if (!services.length) return [];
  const dcs = new Set(['', ...services.map((s) => parseServiceQuery(s)?.dc ?? '')]);
  return [...services.map((s) => `${HEALTH}${s}`), ...[...dcs].map((dc) => `${LIST}${dc}`)];
}

/** The store's catalog, or an error naming the resource when the store has none. */
export function catalogOf(store: KVInfo, r: Pick<ResourceConfig, 'name'>): CatalogReader {
  if (store.catalog) return store.catalog;
  throw new KVError('KV_CONFIG', `${r.name}: [template].services needs a store with a service catalog (--backend consul); ${store.describe} has none`);
}

/** Every instance of a declared service, whatever its status: templates filter (passing only by default). */
function readKey(catalog: CatalogReader, key: string, signal?: AbortSignal): Promise<CatalogSnapshot> {
  const opts = signal ? { signal } : {};
  if (key.startsWith(HEALTH)) return catalog.health(parseServiceQuery(key.slice(HEALTH.length))!, { ...opts, status: 'any' });
  const dc = key.slice(LIST.length);
  return catalog.services({ ...opts, ...(dc ? { dc } : {}) });
}

/** Watch one catalog key: its first answer, then one per real change. */
export function watchCatalogKey(catalog: CatalogReader, key: string, opts: WatchCatalogOptions<CatalogSnapshot>): AsyncGenerator<CatalogSnapshot> {
  if (key.startsWith(HEALTH)) return watchHealth(catalog, parseServiceQuery(key.slice(HEALTH.length))!, { ...opts, status: 'any' });
  const dc = key.slice(LIST.length);
  return watchServices(catalog, { ...opts, ...(dc ? { dc } : {}) });
}

/**
 * The catalog data of one resource, from the watch loops' latest answers when they hold every key
 * the resource needs, else read now. Undefined data: the resource declares no services.
 */
export async function serviceData(
  store: KVInfo,
  r: Pick<ResourceConfig, 'name' | 'services'>,
  latest: ReadonlyMap<string, CatalogSnapshot> | undefined,
  signal?: AbortSignal,
): Promise<{ data?: ServiceData; knownLeader: boolean }> {
  const keys = catalogKeys(r);
  if (!keys.length) return { knownLeader: true };
  const snaps = latest && keys.every((k) => latest.has(k)) ? keys.map((k) => latest.get(k)!) : await Promise.all(keys.map((k) => readKey(catalogOf(store, r), k, signal)));
  const health = new Map<string, readonly ServiceInstance[]>();
  const catalog = new Map<string, Readonly<Record<string, readonly string[]>>>();
  keys.forEach((k, i) => {
    const snap = snaps[i]!;
    if (k.startsWith(HEALTH)) health.set(k.slice(HEALTH.length), (snap as HealthSnapshot).instances);
    else catalog.set(k.slice(LIST.length), (snap as ServicesSnapshot).services);
  });
  return { data: { health, catalog }, knownLeader: snaps.every((s) => s.knownLeader) };
}
