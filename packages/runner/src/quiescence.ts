// Quiescence (consul-template's wait {min, max}): after a poke, wait for `minMs` of quiet but
// never longer than `maxMs` since the burst began, then fire once. Pokes during a run queue
// exactly one more run. With `leading`, the first poke after `minMs` of quiet fires at once and
// only the pokes that follow it are coalesced: a lone change goes out without waiting, a burst
// still costs two runs at most.
export interface QuiescenceOptions {
  minMs: number;
  maxMs: number;
  /** Aborting it is stop(). */
  signal?: AbortSignal;
  /** Fire at once on the first poke after minMs of quiet (leading edge); later pokes wait as usual. */
  leading?: boolean;
}

export interface Quiescence {
  /** A change: true when it fired at once (the leading edge), false when it waits. */
  poke(): boolean;
  /** Fire a pending burst now instead of waiting; resolves when nothing is pending or running. */
  flush(): Promise<void>;
  /** Resolves when nothing is pending or running, without hurrying a pending burst. */
  idle(): Promise<void>;
  /** No more runs; a run in progress finishes (await idle() for it). */
  stop(): void;
}

export function createQuiescence(opts: QuiescenceOptions, fire: () => Promise<void> | void): Quiescence {
  let quiet: NodeJS.Timeout | undefined;
  let cap: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** When the last run ended, or the last poke came (leading: only a poke after minMs of both fires at once). */
  let lastActivity = -Infinity;
  const idleWaiters: (() => void)[] = [];

  const settle = () => {
    if (!quiet && !running) for (const w of idleWaiters.splice(0)) w();
  };
  const clear = () => {
    if (quiet) clearTimeout(quiet);
    if (cap) clearTimeout(cap);
    quiet = cap = undefined;
  };
  const run = (): void => {
    clear();
    if (stopped) return settle();
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      try {
        await fire();
      } catch {
        // fire reports its own failures; the loop must keep going.
      }
    })().finally(() => {
      running = undefined;
      lastActivity = Date.now();
      // The queued burst already waited its quiet (or hit max) while fire ran: go at once.
      if (again && !stopped) {
        again = false;
        run();
      }
      settle();
    });
  };
  /** Nothing pending, nothing running, and quiet for minMs: a leading poke may fire now. */
  const leadingEdge = () => opts.leading === true && !quiet && !running && Date.now() - lastActivity >= opts.minMs;
  const poke = (): boolean => {
    if (stopped) return false;
    const lead = leadingEdge();
    lastActivity = Date.now();
    if (lead) {
      run();
      return true;
    }
    if (quiet) clearTimeout(quiet);
    quiet = setTimeout(run, opts.minMs);
    cap ??= setTimeout(run, opts.maxMs);
    return false;
  };
  const idle = () => new Promise<void>((done) => (quiet || running ? idleWaiters.push(done) : done()));
  function stop() {
    stopped = true;
    again = false;
    clear();
    settle();
  }
  if (opts.signal?.aborted) stop();
  else opts.signal?.addEventListener('abort', stop, { once: true });
  return {
    poke,
    flush: () => {
      if (quiet) run();
      return idle();
    },
    idle,
    stop,
  };
}
