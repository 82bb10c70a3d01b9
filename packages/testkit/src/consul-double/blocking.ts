// Blocking queries: a read with ?index= is held until the index it reads passes it, its ?wait runs
// out, or it is woken; every write tells the held queries to look again.
import type { ServerResponse } from 'node:http';
import { parseGoDuration } from './duration.js';
import { uintParam } from './http.js';

const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;

export interface BlockingParams {
  want: number | undefined;
  waitMs: number;
}

interface Waiter {
  /** Finish when the watched index moved past the one asked for. */
  check(): void;
  /** Finish now, whatever the index. */
  wake(): void;
}

/** ?index and ?wait of a read, or the 400 Consul answers for them. */
export const blockingParams = (q: URLSearchParams): BlockingParams | string => {
  const want = uintParam(q, 'index');
  if (want === 'bad') return 'Invalid index';
  let waitMs = DEFAULT_WAIT_MS;
  if (q.has('wait')) {
    const w = parseGoDuration(q.get('wait') ?? '');
    if (w === undefined) return 'Invalid wait time';
    waitMs = w;
  }
  return { want, waitMs };
};

export class BlockedQueries {
  readonly #waiters = new Set<Waiter>();

  /** How many are held right now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Something changed: each held query answers if its index moved. */
  notify(): void {
    for (const w of [...this.#waiters]) w.check();
  }

  /** Answer every held query now. */
  wakeAll(): void {
    for (const w of [...this.#waiters]) w.wake();
  }

  /** Hold a read while its index is not above ?index; false when the client went away meanwhile. */
  async waitForChange(res: ServerResponse, p: BlockingParams, current: () => number): Promise<boolean> {
    if (p.want !== undefined && p.want > 0 && current() <= p.want) {
      const capped = Math.min(p.waitMs > 0 ? p.waitMs : DEFAULT_WAIT_MS, MAX_WAIT_MS);
      await this.#block(res, current, p.want, capped + Math.random() * (capped / 16));
      if (res.destroyed || res.writableEnded) return false;
    }
    return true;
  }

  /** Hold a blocking query until the index it reads passes `want`, the wait runs out, or it is woken. */
  #block(res: ServerResponse, current: () => number, want: number, waitMs: number) {
    const waiters = this.#waiters;
    return new Promise<void>((done) => {
      const w: Waiter = {
        check: () => {
          if (current() > want) finish();
        },
        wake: () => finish(),
      };
      const timer = setTimeout(finish, waitMs);
      function finish() {
        waiters.delete(w);
        clearTimeout(timer);
        res.off('close', finish);
        done();
      }
      waiters.add(w);
      res.on('close', finish);
    });
  }
}
