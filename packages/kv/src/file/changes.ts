import type { FSWatcher } from 'chokidar';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export interface ChangeSubscription {
  /** Resolve at the next change of the file (or at once if one came since the last call), or after ms. */
  next(ms: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

/**
 * File events for one path, shared by every watch of a store. chokidar watches the directory
 * (the file is replaced by rename, so its inode changes); a slow stat poll backs it up.
 */
export class FileChanges {
  readonly #file: string;
  readonly #pollMs: number;
  readonly #subs = new Set<() => void>();
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #lastStamp = '';
  #trailing: NodeJS.Timeout | undefined;

  constructor(file: string, pollMs: number) {
    this.#file = resolve(file);
    this.#pollMs = pollMs;
  }

  #start(): void {
    if (this.#poll) return;
    // chokidar loads with the first watch (a -onetime run never needs it); until it watches, the poll does.
    void import('chokidar').then(({ watch }) => {
      if (!this.#poll) return;
      this.#watchDir(watch);
      // A change while chokidar loaded is not lost.
      this.#check();
    });
    this.#poll = setInterval(() => this.#check(), this.#pollMs);
    this.#poll.unref();
  }

  /** Wake the subscribers when the file's inode, mtime or size moved since the last look. */
  #check(): void {
    stat(this.#file).then(
      (s) => `${s.ino}:${s.mtimeMs}:${s.size}`,
      () => 'missing',
    ).then((stamp) => {
      if (stamp !== this.#lastStamp) {
        this.#lastStamp = stamp;
        this.#fire();
      }
    }, () => {});
  }

  #watchDir(chokidarWatch: typeof import('chokidar').watch): void {
    const dir = dirname(this.#file);
    this.#watcher = chokidarWatch(dir, {
      depth: 0,
      ignoreInitial: true,
      // The store replaces the file by rename: report it at once, not 100 ms later as an "atomic" save.
      atomic: false,
      ignored: (p: string) => resolve(p) !== dir && resolve(p) !== this.#file,
    });
    // chokidar drops 'change' events within 50 ms of the last one (no trailing event): a second,
    // trailing wake-up after that window catches the writes it swallowed.
    const fire = () => {
      this.#fire();
      clearTimeout(this.#trailing);
      this.#trailing = setTimeout(() => this.#fire(), 60);
    };
    this.#watcher.on('add', fire).on('change', fire).on('unlink', fire).on('error', fire);
  }

  #fire(): void {
    for (const s of this.#subs) s();
  }

  subscribe(): ChangeSubscription {
    this.#start();
    let pending = false;
    let wake: (() => void) | undefined;
    const onChange = () => {
      pending = true;
      wake?.();
    };
    this.#subs.add(onChange);
    return {
      next: (ms, signal) =>
        new Promise<void>((done) => {
          if (pending || signal.aborted) {
            pending = false;
            done();
            return;
          }
          const finish = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', finish);
            wake = undefined;
            pending = false;
            done();
          };
          const timer = setTimeout(finish, Math.max(0, ms));
          signal.addEventListener('abort', finish, { once: true });
          wake = finish;
        }),
      close: () => {
        this.#subs.delete(onChange);
      },
    };
  }

  async close(): Promise<void> {
    clearTimeout(this.#trailing);
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = undefined;
    const w = this.#watcher;
    this.#watcher = undefined;
    await w?.close();
  }
}
