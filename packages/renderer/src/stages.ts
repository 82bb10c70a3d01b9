// The stages of one resource before its file is touched: read → render → guard. Each is a function
// over input/result data; the Renderer chains them, then hands the change to @confd-haproxy/resource
// (stage/check/swap, then apply).
import type { KVSnapshot } from '@confd-haproxy/kv';
import type { Change, ResourceConfig } from '@confd-haproxy/resource';
import type { TemplateEngine } from '@confd-haproxy/template';
import { readPrefixes, storePrefixes, templatePairs } from './data.js';
import type { BadEntry, EntryMemory } from './entries.js';
import { guardEmptiedBackends, guardRender, type GuardError } from './guards.js';
import type { RendererOptions } from './types.js';
import { serviceData, type CatalogSnapshot } from './services.js';

/** What a pass reads from: the watch loops' latest answers, or nothing (read now). */
export interface ReadInput {
  store: RendererOptions['store'];
  snapshots?: ReadonlyMap<string, KVSnapshot> | undefined;
  catalog?: ReadonlyMap<string, CatalogSnapshot> | undefined;
  signal: AbortSignal;
}

export interface ReadResult {
  snapshots: KVSnapshot[];
  services: Awaited<ReturnType<typeof serviceData>>;
  /** Every answer came from a store with a known leader. */
  knownLeader: boolean;
}

export interface RenderResult {
  text: string;
  knownLeader: boolean;
  /** Entries `entry` refused; the rest of the file rendered. */
  bad: BadEntry[];
  /** Remember this render's good entry values. */
  commit(): void;
}

/** read: the resource's prefixes (from the watch loops when they hold all of them) and its services. */
export async function readStage(r: ResourceConfig, input: ReadInput): Promise<ReadResult> {
  const prefixes = storePrefixes(r.prefix, r.keys);
  const latest = input.snapshots;
  const snapshots = latest && prefixes.every((p) => latest.has(p)) ? prefixes.map((p) => latest.get(p)!) : [...(await readPrefixes(input.store, prefixes, input.signal)).snapshots.values()];
  const services = await serviceData(input.store, r, input.catalog, input.signal);
  return { snapshots, services, knownLeader: snapshots.every((s) => s.knownLeader) && services.knownLeader };
}

/**
 * render: the template over the data read, with each key's last good entry at hand; a catalog
 * instance (or listed service) whose printed strings the guard refuses is left out, as are those
 * the read refused; a stop ends it.
 */
export async function renderStage(r: ResourceConfig, data: ReadResult, engine: TemplateEngine, entries: EntryMemory, signal?: AbortSignal): Promise<RenderResult> {
  const pairs = templatePairs(r.prefix, data.snapshots);
  const memory = entries.begin(r.name, pairs);
  const catalogBad = new Map(data.services.refused.map((b) => [b.key, b]));
  const catalog = { refused: (key: string, message: string) => void catalogBad.set(key, { resource: r.name, key, message, fallback: 'left-out', source: 'catalog' }) };
  const services = data.services.data ? { services: data.services.data, catalog } : {};
  const text = await engine.render(r.src, pairs, { entries: memory.recovery, ...services, ...(signal ? { signal } : {}) });
  return { text, knownLeader: data.knownLeader, bad: [...memory.bad, ...catalogBad.values()], commit: memory.commit };
}

/** guard: why this render must not replace dest (stale data, too few servers, emptied backends), or undefined. */
export function guardStage(change: Change, knownLeader: boolean, allowStale: boolean): GuardError | undefined {
  const { resource: r, previous, rendered } = change;
  const limits = { ...(r.minServers !== undefined ? { minServers: r.minServers } : {}), ...(r.maxRemoved !== undefined ? { maxRemoved: r.maxRemoved } : {}) };
  return guardRender({ name: r.name, previous, rendered, knownLeader, allowStale, limits }) ?? (r.services?.length ? guardEmptiedBackends({ name: r.name, previous, rendered }) : undefined);
}
