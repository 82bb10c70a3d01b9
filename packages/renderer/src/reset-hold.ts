// After the store visibly reset (its index went backwards, or most keys vanished at once), its data
// may be a partial picture that checkers are still filling in: renders wait until it has been
// stable for a short time, so a half-empty store is never taken for the truth.
import type { RendererLogger } from './types.js';
import { withFields } from '@confd-haproxy/base';

export class ResetHold {
  readonly #ms: number;
  readonly #log: RendererLogger;
  readonly #onRelease: () => void;
  #timer: NodeJS.Timeout | undefined;

  /** `ms` of 0 never holds (the operator's way to force renders through a reset). */
  constructor(ms: number, log: RendererLogger, onRelease: () => void) {
    this.#ms = ms;
    this.#log = log;
    this.#onRelease = onRelease;
  }

  get held(): boolean {
    return this.#timer !== undefined;
  }

  /** The store reset: hold renders (or keep holding) until its data is stable again. */
  reset(why: string): void {
    if (this.#ms <= 0) {
      withFields(this.#log, { code: 'STORE_RESET' }).warn(`${why}; rendering at once (--reset-hold 0)`);
      return;
    }
    withFields(this.#log, { code: 'STORE_RESET' }).warn(`${why}; holding renders until the data has been stable for ${this.#ms} ms (--reset-hold 0 renders at once)`);
    this.#restart();
  }

  /** New data arrived: while held, the stable time starts again. */
  changed(): void {
    if (this.held) this.#restart();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #restart(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#log.info(`the store's data has been stable for ${this.#ms} ms since it reset: rendering again`);
      this.#onRelease();
    }, this.#ms);
  }
}

/** Most of a prefix's keys gone in one answer (at least 4 before, fewer than half left). */
export function mostKeysGone(before: number, after: number): boolean {
  return before >= 4 && after * 2 < before;
}
