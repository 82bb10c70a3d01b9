// confd's file backend (`--backend file --file x.yaml`, repeatable; files and directories): a
// read-only store over YAML files, flattened as confd 0.17 flattens them (flatten.ts). Files under a
// directory are read in lexical order, recursively, every file as confd reads them; a later file's
// key wins. A watch answers when what the files hold changes: it polls their stamps, so an edit,
// a new file or a removed one is seen within pollMs.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KVError, throwIfAborted } from '../errors.js';
import { byKey, DEFAULT_WATCH_WAIT_MS, type KVIndex, type KVPair, type KVReadOptions, type KVSnapshot, type KVWatchOptions } from '../types.js';
import type { KVReadStore } from '../descriptor.js';

export interface YamlStoreOptions {
  /** YAML files and directories of them, in the order given (later keys win). */
  files: readonly string[];
  /** How often a watch looks at the files (ms). Default 250. */
  pollMs?: number;
}

/** The files a path names: itself, or every file below it in lexical order (filepath.Walk). */
async function filesOf(path: string): Promise<string[]> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new KVError('KV_CONFIG', `${path}: cannot read (${(err as Error).message})`, { cause: err });
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of (await readdir(path)).sort()) out.push(...(await filesOf(join(path, name))));
  return out;
}

/** Reads and watches only (confd's file backend only renders): its descriptor says so, and openStore refuses it to writers. */
class YamlStore implements KVReadStore {
  readonly backend = 'file';
  readonly describe: string;
  readonly #paths: string[];
  readonly #pollMs: number;
  #last: { content: string; vars: Map<string, string> } | undefined;
  #index: KVIndex = 0;

  constructor(opts: YamlStoreOptions) {
    this.#paths = opts.files.map((f) => resolve(f));
    this.describe = `file ${opts.files.join(', ')} (YAML)`;
    this.#pollMs = opts.pollMs ?? 250;
  }

  /** Every key, read now; the index grows when the content changed since the last read. */
  async #read(): Promise<Map<string, string>> {
    const files = (await Promise.all(this.#paths.map(filesOf))).flat();
    const texts = await Promise.all(
      files.map((f) =>
        readFile(f, 'utf8').catch((err: Error) => {
          throw new KVError('KV_UNREACHABLE', `${f}: cannot read (${err.message})`, { cause: err });
        }),
      ),
    );
    const content = JSON.stringify([files, texts]);
    if (this.#last?.content === content) return this.#last.vars;
    const vars = new Map<string, string>();
    // Loaded on first read: the YAML parser costs every run that does not use confd's YAML files ~30 ms of start-up.
    const { flattenYaml } = await import('./flatten.js');
    files.forEach((f, i) => flattenYaml(texts[i]!, f, vars));
    this.#last = { content, vars };
    this.#index++;
    return vars;
  }

  #snapshot(vars: Map<string, string>, prefix: string): KVSnapshot {
    const pairs: KVPair[] = [];
    for (const [k, value] of vars) {
      const key = k.slice(1);
      if (key.startsWith(prefix)) pairs.push({ key, value, modifyIndex: this.#index, createIndex: this.#index, flags: 0 });
    }
    return { index: Math.max(1, this.#index), pairs: pairs.sort(byKey), knownLeader: true };
  }

  async list(prefix: string, opts: KVReadOptions = {}): Promise<KVSnapshot> {
    throwIfAborted(opts.signal);
    return this.#snapshot(await this.#read(), prefix);
  }

  async get(key: string, opts: KVReadOptions = {}): Promise<KVPair | undefined> {
    return (await this.list(key, opts)).pairs.find((p) => p.key === key);
  }

  async watch(prefix: string, since: KVIndex, opts: KVWatchOptions): Promise<KVSnapshot> {
    const deadline = Date.now() + (opts.waitMs ?? DEFAULT_WATCH_WAIT_MS);
    for (;;) {
      throwIfAborted(opts.signal);
      const vars = await this.#read();
      if (this.#index > since || since === 0 || this.#index < since || Date.now() >= deadline) return this.#snapshot(vars, prefix);
      await new Promise<void>((done) => {
        const timer = setTimeout(done, Math.min(this.#pollMs, Math.max(0, deadline - Date.now())));
        opts.signal.addEventListener('abort', () => (clearTimeout(timer), done()), { once: true });
      });
    }
  }

  async close(): Promise<void> {}
}

/** A path confd's file backend reads as YAML: .yaml, .yml, or a directory. */
export const isYamlPath = (path: string): boolean => /\.ya?ml$/i.test(path) || path.endsWith('/');

export function createYamlStore(opts: YamlStoreOptions): KVReadStore {
  if (opts.files.length === 0) throw new KVError('KV_CONFIG', 'the YAML file store needs at least one --file');
  return new YamlStore(opts);
}
