// The last good value of every key read through `entry`, per resource, kept under --state-dir so
// a restart still has them: one bad entry then costs that entry alone, never the whole file.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { EntryRecovery } from '@confd-haproxy/template';
import { ClaimCache, decideOwnership, type StoredPair } from './ownership.js';
import type { BadEntry } from './types.js';

export type { BadEntry } from './types.js';


type Remembered = Record<string, Record<string, string>>;

/** One file per confdir, like the status file, so several renderers on a host do not mix. */
export function entriesPath(stateDir: string, confdir: string): string {
  return join(stateDir, `entries-${createHash('sha1').update(resolve(confdir)).digest('hex').slice(0, 10)}.json`);
}

function load(file: string | undefined): Remembered {
  if (!file) return {};
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Remembered) : {};
  } catch {
    return {};
  }
}

const sameValues = (a: Record<string, string> | undefined, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b).sort());

/** One resource's render: what `entry` accepted and refused, and what to remember afterwards. */
export interface EntryRender {
  recovery: EntryRecovery;
  bad: BadEntry[];
  /** Remember this render's good values (a refused key keeps its old one); keys not read are dropped. */
  commit(): void;
}

export class EntryMemory {
  readonly #file: string | undefined;
  readonly #values: Remembered;
  /** Per resource: the claims its last render's values made, so an unchanged store is not parsed again. */
  readonly #claims = new Map<string, ClaimCache>();

  /** Without a file the values live as long as the process. */
  constructor(file: string | undefined) {
    this.#file = file;
    this.#values = load(file);
  }

  /** `pairs`: what the resource renders from, so an entry that claims another key's listen name or port is refused (ownership.ts). */
  begin(resource: string, pairs: readonly StoredPair[]): EntryRender {
    const known = this.#values[resource] ?? {};
    const cache = this.#claims.get(resource) ?? new ClaimCache();
    this.#claims.set(resource, cache);
    const owners = decideOwnership(pairs, known, cache);
    const next: Record<string, string> = {};
    const bad = new Map<string, BadEntry>();
    const recovery: EntryRecovery = {
      lastGood: (key) => (owners.lastGoodFree(key) ? known[key] : undefined),
      conflict: (key) => owners.conflict(key),
      accepted: (key, value) => {
        next[key] = value;
        bad.delete(key);
      },
      refused: (key, message, fallback) => {
        bad.set(key, { resource, key, message, fallback, source: 'entry' });
        if (fallback === 'last-good' && known[key] !== undefined) next[key] = known[key];
      },
    };
    return {
      recovery,
      get bad() {
        return [...bad.values()];
      },
      commit: () => {
        if (sameValues(this.#values[resource], next)) return;
        this.#values[resource] = next;
        this.#save();
      },
    };
  }

  #save(): void {
    if (!this.#file) return;
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.#values, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.#file);
  }
}
