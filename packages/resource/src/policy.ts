// Local policy of a renderer: which commands its resources may run (--allow-command) and where they
// may write (--allow-dest). Checked when resources load, before anything runs; a pushed bundle too.
import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { commandMode, commandProblems } from './command-policy.js';
import { STDOUT_DEST, type ResourceConfig } from './load.js';

export interface LocalPolicy {
  /** Patterns matched word by word (command-policy.ts); empty: any command. */
  allowCommands: readonly string[];
  /** Directories (symlinks resolved); empty: any dest. */
  allowDests: readonly string[];
}

/** The path with every symlink resolved, as far as it exists (a file not yet written keeps its name). */
export function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : resolve(realPath(parent), basename(path));
  }
}

const inside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/** Why these resources break the policy (one line per problem), or [] when they keep to it. fromBundle: they came from a store bundle. */
export function policyProblems(resources: readonly ResourceConfig[], policy: LocalPolicy, o: { fromBundle?: boolean } = {}): string[] {
  const problems: string[] = [];
  const dirs = policy.allowDests.map(realPath);
  const commands = { allowCommands: policy.allowCommands, mode: commandMode({ fromBundle: o.fromBundle ?? false, allowCommands: policy.allowCommands }) };
  for (const r of resources) {
    problems.push(...commandProblems([r], commands));
    // dest = "-" writes no file (a dry render to stdout): no directory to allow.
    if (dirs.length && r.dest !== STDOUT_DEST) {
      const dest = realPath(r.dest);
      if (!dirs.some((d) => inside(d, dest))) problems.push(`${r.name}: dest ${r.dest}${dest !== r.dest ? ` (${dest})` : ''} is outside every --allow-dest`);
    }
  }
  return problems;
}
