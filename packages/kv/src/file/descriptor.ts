// --backend file: the JSON store (one file, every capability), or confd's YAML files and
// directories (read and watch only: confd's file backend only renders).
import { statSync } from 'node:fs';
import { NoInputError, UsageError } from '@confd-haproxy/base';
import type { StoreCapability, StoreDescriptor } from '../descriptor.js';
import { list } from '../flags.js';
import { createYamlStore, isYamlPath, type YamlStoreOptions } from '../yaml/index.js';
import { createFileStore, type FileStoreOptions } from './index.js';

export type FileBackendOptions = { backend: 'file' } & (FileStoreOptions | YamlStoreOptions);

export const fileDescriptor: StoreDescriptor<FileBackendOptions> = {
  backend: 'file',
  flags: [
    {
      key: 'file',
      names: ['--file'],
      arg: '<path>',
      help: "the file store (with --backend file): the JSON store's file, or confd's YAML files and directories (.yaml, .yml; repeatable, later keys win, read-only)",
      repeatable: true,
      toml: { name: 'file', type: 'string' },
    },
    { key: 'createFile', names: ['--create-file'], help: 'with --file: start an empty store when the file does not exist (a checker always does)' },
  ],
  options(f) {
    const files = list(f, 'file');
    if (files.length === 0) throw new UsageError("--backend file needs --file <kv.json> (or confd's --file x.yaml, repeatable)");
    const yaml = files.filter(isYamlFile);
    if (yaml.length) {
      if (yaml.length !== files.length) throw new UsageError(`--file: ${files.filter((x) => !isYamlFile(x)).join(', ')} is not YAML (.yaml, .yml or a directory) like ${yaml[0]}; the JSON store takes one file`);
      if (f.createFile) throw new UsageError('--create-file: the YAML file store is read-only');
      return { backend: 'file', files: yaml };
    }
    if (files.length > 1) throw new UsageError(`--file: the JSON store takes one file (${files.join(', ')})`);
    checkStoreFile(files[0]!, f.createFile === true);
    return { backend: 'file', file: files[0]! };
  },
  capabilities: (o): readonly StoreCapability[] => ('files' in o ? ['read', 'watch'] : ['read', 'watch', 'write', 'lock']),
  open: (o) => ('files' in o ? createYamlStore(o) : createFileStore(o)),
};

/** confd's file backend: a .yaml/.yml file or a directory of them. */
export function isYamlFile(path: string): boolean {
  try {
    if (statSync(path).isDirectory()) return true;
  } catch {
    // a missing file is told by the store, naming it
  }
  return isYamlPath(path);
}

/** --file must name an existing regular file unless creating one was asked for. */
function checkStoreFile(file: string, create: boolean): void {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new NoInputError(`--file ${file}: ${(err as Error).message}`);
    if (create) return;
    throw new NoInputError(`--file ${file}: no such file (check the path; --create-file starts a new, empty store)`);
  }
  if (!st.isFile()) throw new NoInputError(`--file ${file}: not a regular file`);
}
