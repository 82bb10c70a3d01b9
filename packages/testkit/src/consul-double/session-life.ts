// A session's life after create: its TTL timer, and its invalidation (TTL run out, destroy, or a
// test's expireSession), which releases or deletes the keys it holds and starts lock-delay on them.
import type { Session, State } from './state.js';

export class SessionLife {
  readonly #state: State;
  readonly #notify: () => void;
  readonly #graceMs: number | undefined;

  /** `graceMs`: how long after its TTL an unrenewed session goes (default: random, up to min(TTL, 1 s)). */
  constructor(state: State, notify: () => void, graceMs: number | undefined) {
    this.#state = state;
    this.#notify = notify;
    this.#graceMs = graceMs;
  }

  /** Invalidate a session: its locks are released (or keys deleted) and lock-delay starts on them. */
  invalidate(id: string): void {
    const state = this.#state;
    const s = state.sessions.get(id);
    if (!s) return;
    if (s.timer) clearTimeout(s.timer);
    state.sessions.delete(id);
    const held = [...state.kv].filter(([, e]) => e.session === id);
    if (!held.length) return;
    const idx = state.bump();
    const until = Date.now() + s.lockDelayMs;
    for (const [k, e] of held) {
      if (s.behavior === 'delete') {
        state.kv.delete(k);
        state.tombstones.set(k, idx);
      } else {
        delete e.session;
        e.modifyIndex = idx;
      }
      if (s.lockDelayMs > 0) state.lockDelays.set(k, until);
    }
    state.kvIndex = idx;
    this.#notify();
  }

  /** (Re)start the session's TTL. */
  arm(s: Session): void {
    if (s.timer) clearTimeout(s.timer);
    // Consul invalidates somewhere between TTL and 2×TTL; tests must not rely on exactly TTL.
    const grace = this.#graceMs ?? Math.floor(Math.random() * Math.min(s.ttlMs, 1000));
    s.timer = setTimeout(() => this.invalidate(s.id), s.ttlMs + grace);
    s.timer.unref();
  }

  invalidateAll(): void {
    for (const id of [...this.#state.sessions.keys()]) this.invalidate(id);
  }

  /** Stop every TTL timer (the double closes). */
  stop(): void {
    for (const s of this.#state.sessions.values()) if (s.timer) clearTimeout(s.timer);
  }
}
