// Local policy of a renderer: which commands its resources may run (--allow-command) and where they
// may write (--allow-dest). Checked when resources load, before anything runs; a pushed bundle too.
import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { STDOUT_DEST, type ResourceConfig } from './load.js';

export interface LocalPolicy {
  /** Literal commands or globs; empty: any command. */
  allowCommands: readonly string[];
  /** Directories (symlinks resolved); empty: any dest. */
  allowDests: readonly string[];
}

// Hand-written: a shell-aware glob, so `*` can never stretch over a `;` into a second command.
const SHELL_OPERATOR = ';&|`$()<>\\n\\r';
const globRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? `[^${SHELL_OPERATOR}]*` : c === '?' ? `[^${SHELL_OPERATOR}]` : c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')))
      .join('')}$`,
  );

/** A command matches a pattern written out in full, or its glob (`*`, `?`: never a shell operator). */
export function commandAllowed(command: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => p === command || ((p.includes('*') || p.includes('?')) && globRegExp(p).test(command)));
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

/** Why these resources break the policy (one line per problem), or [] when they keep to it. */
export function policyProblems(resources: readonly ResourceConfig[], policy: LocalPolicy): string[] {
  const problems: string[] = [];
  const dirs = policy.allowDests.map(realPath);
  for (const r of resources) {
    if (policy.allowCommands.length) {
      for (const [field, cmd] of [['check_cmd', r.checkCmd], ['reload_cmd', r.reloadCmd]] as const) {
        if (cmd !== undefined && !commandAllowed(cmd, policy.allowCommands)) problems.push(`${r.name}: ${field} ${JSON.stringify(cmd)} matches no --allow-command`);
      }
    }
    // dest = "-" writes no file (a dry render to stdout): no directory to allow.
    if (dirs.length && r.dest !== STDOUT_DEST) {
      const dest = realPath(r.dest);
      if (!dirs.some((d) => inside(d, dest))) problems.push(`${r.name}: dest ${r.dest}${dest !== r.dest ? ` (${dest})` : ''} is outside every --allow-dest`);
    }
  }
  return problems;
}
