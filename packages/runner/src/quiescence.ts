// Quiescence (consul-template's wait {min, max}): after a poke, wait for `minMs` of quiet but
// never longer than `maxMs` since the burst began, then fire once. Pokes during a run queue
// exactly one more run.
export interface QuiescenceOptions {
  minMs: number;
  maxMs: number;
  /** Aborting it is stop(). */
  signal?: AbortSignal;
}

export interface Quiescence {
  poke(): void;
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
      // The queued burst already waited its quiet (or hit max) while fire ran: go at once.
      if (again && !stopped) {
        again = false;
        run();
      }
      settle();
    });
  };
  const poke = () => {
    if (stopped) return;
    if (quiet) clearTimeout(quiet);
    quiet = setTimeout(run, opts.minMs);
    cap ??= setTimeout(run, opts.maxMs);
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
