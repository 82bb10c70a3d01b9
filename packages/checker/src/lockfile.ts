// One copy per tag per host: a PID file, refused while its PID lives, taken over when it is dead.
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '@confd-haproxy/base';
import { CheckerError } from './errors.js';

export interface LocalLock {
  readonly path: string;
  release(): void;
}

const readPid = (path: string): number | undefined => {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Take `<dir>/<kind>-<tag>.pid` for this process. Throws CHECKER_LOCKED naming the other PID while
 * another live process holds it; a file left by a dead process is taken over.
 */
export function takeLocalLock(dir: string, kind: string, tag: string, bin: string): LocalLock {
  const path = join(dir, `${kind}-${tag}.pid`);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    // Written aside and linked into place, so a reader never sees an empty or half-written file.
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
  } catch (err) {
    throw new CheckerError('CHECKER_LOCKED', `cannot create the lock file ${path} (${(err as Error).message}); choose another directory with --lock-dir`, { cause: err });
  }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path);
        return {
          path,
          release: () => {
            try {
              if (readPid(path) === process.pid) unlinkSync(path);
            } catch {
              // already gone
            }
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new CheckerError('CHECKER_LOCKED', `cannot create the lock file ${path} (${(err as Error).message}); choose another directory with --lock-dir`, { cause: err });
        }
      }
      const pid = readPid(path);
      if (pid !== undefined && pid !== process.pid && pidAlive(pid)) {
        throw new CheckerError('CHECKER_LOCKED', `another ${bin} (pid ${pid}) already checks tag ${tag} on this host (lock file ${path}); stop it first, or use another --lock-dir`);
      }
      // A stale lock from a dead process (or our own PID from a previous life): take it over.
      try {
        unlinkSync(path);
      } catch {
        // someone else took it over first; try again
      }
    }
    throw new CheckerError('CHECKER_LOCKED', `cannot take the lock file ${path}: it keeps being taken by another process`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean
    }
  }
}
