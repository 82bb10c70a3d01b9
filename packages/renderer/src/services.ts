// A resource's declared catalog services → what the renderer watches ("service:web",
// "services:dc2") and the data its template's `service` and `services` read.
import {
  instanceKey,
  instanceProblem,
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
import type { BadEntry } from './entries.js';

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

/** The instances a template may see, and a bad entry for each it must not (an address or port that is no word of a server line). */
export function screenInstances(resource: string, instances: readonly ServiceInstance[]): { good: ServiceInstance[]; refused: BadEntry[] } {
  const good: ServiceInstance[] = [];
  const refused: BadEntry[] = [];
  for (const i of instances) {
    const problem = instanceProblem(i);
    if (problem) refused.push({ resource, key: instanceKey(i), message: problem.message, fallback: 'left-out', source: 'catalog' });
    else good.push(i);
  }
  return { good, refused };
}

/**
 * The catalog data of one resource, from the watch loops' latest answers when they hold every key
 * the resource needs, else read now; instances with a bad address or port are left out (`refused`).
 * Undefined data: the resource declares no services.
 */
export async function serviceData(
  store: KVInfo,
  r: Pick<ResourceConfig, 'name' | 'services'>,
  latest: ReadonlyMap<string, CatalogSnapshot> | undefined,
  signal?: AbortSignal,
): Promise<{ data?: ServiceData; knownLeader: boolean; refused: BadEntry[] }> {
  const keys = catalogKeys(r);
  if (!keys.length) return { knownLeader: true, refused: [] };
  const snaps = latest && keys.every((k) => latest.has(k)) ? keys.map((k) => latest.get(k)!) : await Promise.all(keys.map((k) => readKey(catalogOf(store, r), k, signal)));
  const health = new Map<string, readonly ServiceInstance[]>();
  const catalog = new Map<string, Readonly<Record<string, readonly string[]>>>();
  // An instance two declared queries answer is refused once.
  const refused = new Map<string, BadEntry>();
  keys.forEach((k, i) => {
    const snap = snaps[i]!;
    if (!k.startsWith(HEALTH)) return void catalog.set(k.slice(LIST.length), (snap as ServicesSnapshot).services);
    const screened = screenInstances(r.name, (snap as HealthSnapshot).instances);
    health.set(k.slice(HEALTH.length), screened.good);
    for (const b of screened.refused) refused.set(b.key, b);
  });
  return { data: { health, catalog }, knownLeader: snaps.every((s) => s.knownLeader), refused: [...refused.values()] };
}
