// Where a resource may write (--allow-dest): each file the instance names, and every file under a
// directory it names with a trailing "/". Checked when resources load, and again when a file is
// written, against where the write lands then (a symlink swapped in between is caught).
import { lstatSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import isPathInside from 'is-path-inside';

export interface DestPolicy {
  /** Files, or directories written with a trailing "/"; empty: any dest. */
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

/** Where a write to `path` lands: its directory with every symlink resolved, and its own name (rename replaces a link there). */
export function writeLocation(path: string): string {
  return join(realPath(dirname(path)), basename(path));
}

/** An --allow-dest ending in "/" names a directory: every file under it. */
const namesDirectory = (entry: string): boolean => entry.endsWith('/');

export const destRestricted = (policy: DestPolicy): boolean => policy.allowDests.length > 0;

/** Whether a resolved location is one of the files, or under one of the directories, the policy names. */
function allowedAt(location: string, policy: DestPolicy): boolean {
  return policy.allowDests.some((entry) => (namesDirectory(entry) ? isPathInside(location, realPath(entry)) : writeLocation(entry) === location));
}

/** Where the symlink at `path` leads, fully resolved; undefined when path is no symlink. */
function linkTarget(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? realPath(path) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why `dest` must not be written now (undefined: it may). The write lands at dest's real directory
 * under dest's own name; a symlink there would be replaced by the write, so its target must be
 * allowed too: a link never carries a write out of, or into, what the instance named.
 */
export function destProblem(dest: string, policy: DestPolicy): string | undefined {
  if (!destRestricted(policy)) return undefined;
  const location = writeLocation(dest);
  if (!allowedAt(location, policy)) return `dest ${dest}${location !== dest ? ` (${location})` : ''} is outside every --allow-dest`;
  const target = linkTarget(dest);
  if (target !== undefined && !allowedAt(target, policy)) return `dest ${dest} is a symlink to ${target}, outside every --allow-dest (it is neither followed nor replaced)`;
  return undefined;
}

/** An --allow-dest that names an existing directory without the trailing "/": it names files now, so the fix is spelled out. */
export function allowDestProblems(policy: DestPolicy): string[] {
  return policy.allowDests
    .filter((entry) => !namesDirectory(entry) && isDirectory(entry))
    .map((entry) => `--allow-dest ${entry} is a directory: --allow-dest names files (e.g. --allow-dest ${join(entry, 'haproxy.cfg')}); to allow every file under it, write --allow-dest ${entry}/`);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
