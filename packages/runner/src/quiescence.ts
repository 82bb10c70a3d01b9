// Quiescence (consul-template's wait {min, max}): after a poke, wait for `minMs` of quiet but
// never longer than `maxMs` since the burst began, then fire once. Pokes during a run queue
// exactly one more run.
export interface QuiescenceOptions {
  minMs: number;
  maxMs: number;
  signal?: AbortSignal;
}

export interface Quiescence {
  poke(): void;
  /** Resolves when no run is pending or running. */
  idle(): Promise<void>;
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
  const run = () => {
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
      if (again && !stopped) {
        again = false;
        poke();
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
  opts.signal?.addEventListener('abort', () => stop(), { once: true });
  function stop() {
    stopped = true;
    clear();
    settle();
  }
  return {
    poke,
    idle: () => new Promise<void>((done) => (quiet || running ? idleWaiters.push(done) : done())),
    stop,
  };
}
