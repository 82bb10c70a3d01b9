// The store flags of every bin, built from the store descriptors (@confd-haproxy/kv): each backend
// declares its flags once, with every spelling the renderer, the checkers and confd accept.
import type { Command } from 'commander';
import { UsageError } from '@confd-haproxy/base';
import { STORE_BACKENDS, STORE_DESCRIPTORS, storeDescriptor, isStoreBackend, type StoreFlagSpec, type StoreFlagValues, type StoreOptions } from '@confd-haproxy/kv';
import { readFirstLine } from './common.js';

/** Every store flag once, by spelling (a flag two backends take is declared alike by both). */
const SPECS: readonly StoreFlagSpec[] = STORE_DESCRIPTORS.flatMap((d) => d.flags).filter((s, i, all) => all.findIndex((x) => x.names[0] === s.names[0]) === i);

/** commander's attribute for a spelling: --auth-token → authToken. */
export const attributeOf = (name: string): string => name.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

const collect = (split: boolean) => (v: string, prev: string[] = []) => [...prev, ...(split ? v.split(',').filter(Boolean) : [v])];

/** --backend and every backend's flags, each spelling its own option. */
export function addStoreFlags(cmd: Command): Command {
  cmd.option('--backend <name>', `store backend: ${STORE_BACKENDS.join(', ')}`);
  for (const spec of SPECS) {
    for (const name of spec.names) {
      const flag = `${name}${spec.arg ? ` ${spec.arg}` : ''}`;
      const help = name === spec.names[0] ? spec.help : `same as ${spec.names[0]}`;
      if (spec.repeatable) cmd.option(flag, help, collect(spec.split ?? false));
      else cmd.option(flag, help);
    }
  }
  return cmd;
}

/** The confd.toml settings of the store flags: setting → [commander attribute, type]. */
export const STORE_TOML_SETTINGS: Readonly<Record<string, readonly [string, 'string' | 'boolean' | 'strings']>> = Object.fromEntries(
  SPECS.flatMap((s) => (s.toml ? [[s.toml.name, [attributeOf(s.names[0]!), s.toml.type] as const]] : [])),
);

/** How messages name a value: every spelling of its key. */
const label = (key: string) => SPECS.filter((s) => s.key === key).flatMap((s) => s.names).join('/');

const given = (v: unknown) => v !== undefined && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0);

/** The store flags given, by key, from commander's attributes (any spelling); file flags read here, at the edge. */
export function storeFlagValues(opts: Readonly<Record<string, unknown>>): StoreFlagValues & { backend?: string } {
  const out: Record<string, string | string[] | boolean> = {};
  for (const spec of SPECS) {
    for (const name of spec.names) {
      const v = opts[attributeOf(name)];
      if (!given(v)) continue;
      const value = spec.fromFile ? readFirstLine(String(v), name) : (v as string | string[] | boolean);
      const prev = out[spec.key];
      out[spec.key] = Array.isArray(prev) && Array.isArray(value) ? [...prev, ...value] : value;
    }
  }
  return { ...out, ...(typeof opts.backend === 'string' && opts.backend ? { backend: opts.backend } : {}) };
}

/** Store flags → StoreOptions for openStore: the backend chosen, a flag it would ignore refused, its descriptor's options. */
export function storeOptionsFromFlags(all: StoreFlagValues & { backend?: string }, env: NodeJS.ProcessEnv = process.env): StoreOptions {
  // One left empty ("", false, no nodes) counts as not given.
  const flags: StoreFlagValues & { backend?: string } = Object.fromEntries(Object.entries(all).filter(([, v]) => given(v)));
  const backend = flags.backend ?? (flags.file ? 'file' : 'consul');
  if (!isStoreBackend(backend)) throw new UsageError(`--backend: "${backend}" is not ${STORE_BACKENDS.slice(0, -1).join(', ')} or ${STORE_BACKENDS.at(-1)}`);
  const d = storeDescriptor(backend);
  const honoured = new Set(d.flags.map((s) => s.key));
  const ignored = Object.keys(flags).filter((k) => k !== 'backend' && !honoured.has(k));
  if (ignored.length) {
    const them = ignored.length > 1 ? 'them' : 'it';
    throw new UsageError(`${ignored.map(label).join(', ')}: not used by --backend ${backend}; remove ${them} or choose the backend that uses ${them}`);
  }
  return d.options(flags, env) as StoreOptions;
}
