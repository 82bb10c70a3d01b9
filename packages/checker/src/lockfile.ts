// One copy per tag per host: a PID file, refused while its PID lives, taken over when it is dead.
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '@confd-haproxy/kv';
import { CheckerError } from './errors.js';


export interface LocalLock {
  readonly path: string;
  release(): void;
}

export function takeLocalLock(dir: string, kind: string, tag: string, bin: string): LocalLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${kind}-${tag}.pid`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        path,
        release: () => {
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CheckerError('CHECKER_LOCKED', `cannot create the lock file ${path} (${(err as Error).message}); set --lock-dir`, { cause: err });
      }
    }
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
      throw new CheckerError('CHECKER_LOCKED', `another ${bin} (pid ${pid}) already checks tag ${tag} on this host (lock file ${path})`);
    }
    // A stale lock from a dead process: take it over.
    try {
      unlinkSync(path);
    } catch {
      // someone else took it over first; try again
    }
  }
  throw new CheckerError('CHECKER_LOCKED', `cannot take the lock file ${path}`);
}
