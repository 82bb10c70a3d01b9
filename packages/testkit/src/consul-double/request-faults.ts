// The faults a test turns on for every request: a delay before each answer, injected error
// statuses, and whether the agent knows a leader (X-Consul-KnownLeader).

export class RequestFaults {
  /** Answer every request this much later (0: at once). */
  delayMs = 0;
  knownLeader = true;
  #failStatus = 0;
  #failCount = 0;
  /** The delay fault's pending waits: close() ends them, so a delayed answer keeps no timer alive. */
  readonly #pauses = new Map<NodeJS.Timeout, () => void>();

  /** Answer the next `count` requests with this status (-1: every request until `fail(0)`). */
  fail(status: number, count: number): void {
    this.#failStatus = status;
    this.#failCount = status ? count : 0;
  }

  /** The answer a fail fault injects into this request, counting it down; undefined when none is on. */
  injected(): { status: number; body: string } | undefined {
    if (this.#failCount === 0 || !this.#failStatus) return undefined;
    if (this.#failCount > 0) this.#failCount--;
    const status = this.#failStatus;
    return { status, body: status === 429 ? 'rate limit exceeded' : `rpc error: injected fault ${status}` };
  }

  pause(ms: number): Promise<void> {
    return new Promise<void>((done) => {
      const timer = setTimeout(() => {
        this.#pauses.delete(timer);
        done();
      }, ms);
      this.#pauses.set(timer, done);
    });
  }

  /** End every pending delay now (the double closes). */
  endPauses(): void {
    for (const [timer, done] of this.#pauses) {
      clearTimeout(timer);
      done();
    }
    this.#pauses.clear();
  }
}
