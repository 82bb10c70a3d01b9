// The state dir decides what runs next: fleet.json and bundles/ name the configuration and its
// commands, entries-*.json what renders when the store is bad. So only the process's own user (or
// root) may have written it or anything in it.
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { processOwner, type Owner } from '@confd-haproxy/base';
import { FleetError } from './errors.js';

/** Whose the state dir must be: the process's user, and the group that may also write it. */
export type StateDirOwner = Owner;
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * Why st is not private to owner, or undefined. Owned by the user or root; never writable by
 * others; writable by its group only when that is the user's own group (a Kubernetes fsGroup
 * volume makes everything group-writable by the pod's group).
 */
export function notPrivateReason(st: Stats, owner: StateDirOwner): string | undefined {
  if (st.uid !== owner.uid && st.uid !== 0) return `is owned by uid ${st.uid}, not by this process's user (uid ${owner.uid}) or root`;
  if (st.isSymbolicLink()) return undefined; // a link's own mode means nothing: its target is checked
  if (st.mode & 0o002) return `is writable by others (mode ${octal(st.mode)})`;
  if (st.mode & 0o020 && st.gid !== owner.gid) return `is writable by group ${st.gid} (mode ${octal(st.mode)}), not this process's group ${owner.gid}`;
  return undefined;
}

/** The problem of one path (itself, and what it points to when it is a link), or undefined. */
function pathProblem(path: string, owner: StateDirOwner): string | undefined {
  const own = lstatSync(path);
  const reason = notPrivateReason(own, owner) ?? (own.isSymbolicLink() ? notPrivateReason(statSync(path), owner) : undefined);
  return reason && `${path} ${reason}`;
}

/** The state dir, the files in it (fleet.json, instance-id, status-*, entries-*) and bundles/ with each bundle in it. */
function pathsToCheck(dir: string): string[] {
  const top = readdirSync(dir).map((name) => join(dir, name));
  const bundles = join(dir, 'bundles');
  const kept = existsSync(bundles) && statSync(bundles).isDirectory() ? readdirSync(bundles).map((name) => join(bundles, name)) : [];
  return [dir, ...top, ...kept];
}

/**
 * Check that dir is private to this process's user (made 0700 when `create` and it does not exist);
 * refuse it, naming the path and what is wrong, when it or anything in it was not.
 */
export function privateStateDir(dir: string, opts: { create?: boolean; owner?: StateDirOwner } = {}): void {
  const owner = opts.owner ?? processOwner();
  try {
    if (!existsSync(dir)) {
      if (!opts.create) return;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    }
  } catch (err) {
    throw new FleetError('FLEET_STATE', `--state-dir ${dir}: cannot create it (${(err as Error).message})`, { cause: err });
  }
  for (const path of pathsToCheck(dir)) {
    const problem = pathProblem(path, owner);
    if (problem) {
      throw new FleetError('FLEET_STATE_UNSAFE', `--state-dir ${dir}: ${problem}; another user could choose what this instance renders and runs. Make it this user's (chown, chmod go-w) or choose another --state-dir`);
    }
  }
}
