// What a pushed bundle may not do that the operator's own confdir may: hand a dest to another owner,
// or name a template outside its own templates/.
import { isAbsolute, resolve } from 'node:path';
import { processOwner, type Owner } from '@confd-haproxy/base';
import isPathInside from 'is-path-inside';
import { realPath } from './dest-policy.js';

/** Why a bundle's resource may not give its dest this owner (undefined: the instance's own, or one --allow-owner names). */
export function ownerProblem(r: Owner, allowOwners: readonly Owner[]): string | undefined {
  const self = processOwner();
  if (r.uid === self.uid && r.gid === self.gid) return undefined;
  if (allowOwners.some((o) => o.uid === r.uid && o.gid === r.gid)) return undefined;
  return `uid ${r.uid} and gid ${r.gid}: a bundle may give a dest only the instance's own owner (${self.uid}:${self.gid}) or one --allow-owner names (--allow-owner ${r.uid}:${r.gid})`;
}

/** Why `src` is not one of the bundle's own templates: absolute, climbing out with "..", or a symlink leading out. */
export function bundleSrcProblem(srcName: string, templatesDir: string): string | undefined {
  const leaves = isAbsolute(srcName) || srcName.split(/[\\/]/).includes('..') || !isPathInside(realPath(resolve(templatesDir, srcName)), realPath(templatesDir));
  return leaves ? `[template].src "${srcName}" is not under the bundle's templates/: a bundle renders only its own templates` : undefined;
}
