// The heartbeat: between full probes, a cheap request (memcached `version`, Redis PING, MySQL
// COM_PING) on the connection the kind already keeps to the *active* server of a tag, so a server
// that stops answering (SIGSTOP, a partition, swapping) is found within the heartbeat's deadline
// instead of at the next probe's. This file owns the timing only; what a failed heartbeat does
// (count a failure, decide at once) is the tag checker's, the request itself is the kind's.

/** What a kind's heartbeat answers: ok, or why not. Only a failure counts: a success says nothing a probe would. */
export interface HeartbeatOutcome {
  ok: boolean;
  reason?: string;
}

/** What a kind implements to be heartbeated: one request on its kept connection; the signal fires at the deadline. */
export interface Heartbeater<T> {
  heartbeat(target: T, signal: AbortSignal): Promise<HeartbeatOutcome>;
}

/**
 * The default period: a stopped server is found within period + timeout of stopping. 100 ms keeps
 * that within --timeout + 150 ms; its cost, measured with bench/scale, is in the README.
 */
export const DEFAULT_HEARTBEAT_MS = 100;

export interface HeartbeatLoopOptions {
  /** Time from one heartbeat's start to the next (ms); a slow answer delays the next, never overlaps it. */
  periodMs: number;
  /** One heartbeat, deadline included; the loop waits for it before it schedules the next. */
  beat: () => Promise<unknown>;
}

/** Calls beat every periodMs, one at a time, until stop(). */
export class HeartbeatLoop {
  readonly #o: HeartbeatLoopOptions;
  #timer: NodeJS.Timeout | undefined;
  #started = 0;
  #stopped = true;

  constructor(o: HeartbeatLoopOptions) {
    this.#o = o;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#timer = setTimeout(this.#tick, this.#o.periodMs);
  }

  readonly #tick = (): void => {
    if (this.#stopped) return;
    this.#started = Date.now();
    this.#o.beat().then(this.#next, this.#next);
  };

  readonly #next = (): void => {
    if (this.#stopped) return;
    this.#timer = setTimeout(this.#tick, Math.max(0, this.#o.periodMs - (Date.now() - this.#started)));
  };

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
