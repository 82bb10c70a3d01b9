// The heartbeat: between full probes, a cheap request (memcached `version`, Redis PING, MySQL
// COM_PING) on the connection the kind already keeps to the *active* server of a tag, so a server
// that stops answering (SIGSTOP, a partition, swapping) is found within period + deadline instead
// of at the next probe's deadline. This file owns the timing and the deadline; what a failed
// heartbeat does (count a failure, probe the others, decide) is the tag checker's, the request
// itself is the kind's. It runs for every tag many times a second, so it allocates little: one
// controller reused while heartbeats answer, one timer and one promise per heartbeat.

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
 * that within --timeout + 150 ms; its CPU cost (bench/scale) is in the README.
 */
export const DEFAULT_HEARTBEAT_MS = 100;

/**
 * Heartbeats a second one process sends at most by default. Each costs about what a probe costs
 * (one write and one read, mostly in the kernel): at 500 a second a process with 250 tags spends
 * on them about what its probes cost at 1 s, and a process with thousands of tags is never
 * swamped by them (measured with bench/scale, figures in the README).
 */
export const DEFAULT_HEARTBEAT_BUDGET = 500;

/**
 * The period each of `tags` loops uses: the one asked for, or longer, so that the process sends
 * at most `budget` heartbeats a second (0: no limit). 0 stays 0 (no heartbeat).
 */
export function heartbeatPeriod(periodMs: number, tags: number, budget: number): number {
  if (periodMs <= 0) return 0;
  if (budget <= 0) return periodMs;
  return Math.max(periodMs, Math.ceil((tags * 1000) / budget));
}

export interface HeartbeatLoopOptions<T> {
  /** Time between heartbeats (ms); every loop of a process beats on the same multiples of it. */
  periodMs: number;
  /** Deadline of one heartbeat (ms). */
  timeoutMs: number;
  /** Start one heartbeat on signal, or none now (no active server, not the holder). */
  send(signal: AbortSignal): { target: T; answer: Promise<HeartbeatOutcome> } | undefined;
  /** A heartbeat failed or missed its deadline: what the checker does about it. */
  failed(target: T, outcome: HeartbeatOutcome & { ms: number }): Promise<unknown>;
  /** Runs each heartbeat, failure handling included: between passes, never beside one. */
  exclusive(fn: () => Promise<void>): Promise<void>;
}

// One reason for every abort: abort() without one builds a DOMException with a stack each time.
const DEADLINE = new Error('heartbeat deadline');
const STOPPED = new Error('heartbeat stopped');
const FAILED = new Error('heartbeat failed');

/** Calls send every periodMs, one heartbeat at a time, until stop(). */
export class HeartbeatLoop<T> {
  readonly #o: HeartbeatLoopOptions<T>;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  /** Reused while heartbeats answer; replaced once aborted (a deadline passed). */
  #ac = new AbortController();

  constructor(o: HeartbeatLoopOptions<T>) {
    this.#o = o;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule();
  }

  // Aligned to multiples of the period, so the loops of many tags wake together: one timer run
  // sends them all and their answers come back in a few reads of the event loop, not one each.
  #schedule(): void {
    if (this.#stopped) return;
    const p = this.#o.periodMs;
    this.#timer = setTimeout(this.#tick, p - (Date.now() % p));
  }

  readonly #tick = (): void => {
    if (this.#stopped) return;
    this.#o.exclusive(this.#beat).then(this.#next, this.#next);
  };

  readonly #next = (): void => this.#schedule();

  readonly #beat = async (): Promise<void> => {
    if (this.#stopped) return;
    const started = Date.now();
    const sent = this.#o.send(this.#ac.signal);
    if (!sent) return;
    const outcome = await this.#within(sent.answer);
    if (outcome.ok) return;
    // A failed heartbeat may leave listeners on the signal (a connect that was refused): a fresh one for the next.
    this.#renew(FAILED);
    if (this.#stopped) return;
    await this.#o.failed(sent.target, { ...outcome, ms: Date.now() - started });
  };

  /** The answer, or a failure at the deadline (the signal then fires, and the kind lets go of its socket). */
  #within(answer: Promise<HeartbeatOutcome>): Promise<HeartbeatOutcome> {
    const { timeoutMs } = this.#o;
    return new Promise<HeartbeatOutcome>((done) => {
      const timer = setTimeout(() => {
        this.#renew(DEADLINE);
        done({ ok: false, reason: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      answer.then(
        (r) => {
          clearTimeout(timer);
          done(r);
        },
        (err: unknown) => {
          clearTimeout(timer);
          done({ ok: false, reason: err instanceof Error ? err.message : String(err) });
        },
      );
    });
  }

  /** Abort the current signal (once) and take a new one. */
  #renew(reason: Error): void {
    if (!this.#ac.signal.aborted) this.#ac.abort(reason);
    this.#ac = new AbortController();
  }

  /** No heartbeat after this; the one in flight is aborted. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ac.abort(STOPPED);
  }
}
