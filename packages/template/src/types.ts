// The template package's types: the render scope the helpers read, the helpers' shape, the catalog
// data. Start reading here; this file imports nothing local, and every other file points down to it.
import type { ServiceInstance } from '@confd-haproxy/kv';

export interface KVPairView {
  Key: string;
  Value: string;
}

/** What confd's functions read during one render pass, Handlebars' and Go's (go-funcs.ts) alike. */
export interface ConfdScope {
  /** Keys start with "/". */
  byKey: ReadonlyMap<string, string>;
  env: Readonly<Record<string, string | undefined>>;
  /** When set, `getenv` reads only these names and fails naming any other (a pushed bundle's templates). */
  envNames?: ReadonlySet<string>;
  now: () => Date;
  /** DNS answers resolved before this pass; a miss is recorded in `wanted` and answers []. */
  lookups: ReadonlyMap<string, unknown>;
  wanted: Set<string>;
}

/** What the helpers read during one render pass. */
export interface RenderScope extends ConfdScope {
  /** Sorted by key, one per key; keys start with "/". */
  pairs: readonly KVPairView[];
  /** The key whose raw value is exactly `value`, if any (for taint and error messages). */
  keyOfValue(value: string): string | undefined;
  /** Remember every string inside what was parsed out of `key`'s value, for the injection guard. */
  taint(parsed: unknown, key: string): void;
  /** Remember a catalog string and where it came from, for the injection guard. */
  taintCatalog(text: string, source: CatalogSource): void;
  /** Lets `entry` fall back to a key's last good value instead of failing the whole render. */
  entries?: EntryRecovery;
  /** The catalog data of the resource's declared services (service.ts). */
  services?: ServiceData;
}

/** How `entry` limits a bad value's harm to its own key: the caller remembers each key's last good value. */
export interface EntryRecovery {
  /** The last value of `key` that `entry` accepted, if any. */
  lastGood(key: string): string | undefined;
  /** `entry` accepted `value` for `key`. */
  accepted(key: string, value: string): void;
  /** `entry` refused `key`'s value; the render goes on with its last good value, or without the entry. */
  refused(key: string, message: string, fallback: 'last-good' | 'left-out'): void;
  /**
   * Why `key`'s value, a good entry, must still not render: it claims a listen name or port that
   * another key of the resource serves. Its last good value is then offered only if it collides with nothing.
   */
  conflict?(key: string): string | undefined;
}

/** `self` is the template's context where the helper was called (the pair of `{{#each (gets ...)}}`). */
export type Helper = (scope: RenderScope, args: unknown[], self?: unknown) => unknown;

/** A lookup the engine must resolve between passes. */
export type LookupRequest = { kind: 'ip' | 'ip4' | 'ip6'; name: string } | { kind: 'srv'; name: string };

/** Where a catalog string came from: the item it belongs to, and its field. */
export interface CatalogSource {
  /** The item's key (an instance's, or a service's in a service list): what a render may drop. */
  key: string;
  /** `service "web" instance "web-9" on node "n1": Meta["zone"]`. */
  label: string;
}

/** What a render may read of the catalog: the declared queries' instances (every status) and service lists per datacenter. */
export interface ServiceData {
  /** Declared query text ("web", "primary.web", "db@dc2") → every instance, whatever its status. */
  health: ReadonlyMap<string, readonly ServiceInstance[]>;
  /** Datacenter ("" for the local one) → service name → tags. */
  catalog: ReadonlyMap<string, Readonly<Record<string, readonly string[]>>>;
}

/** Runs one synchronous pass of a render (default: calls it); what it throws ends the render. */
export type PassRunner = (pass: () => void) => void;

/** Calls the pass as is: a render without a time limit of its own (the worker's is held by its host). */
export const callPass: PassRunner = (pass) => pass();
