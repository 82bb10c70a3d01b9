// A loop that runs for the rest of a test (a checker's run(), a watching renderer): it gets a
// signal, and at teardown the signal fires, the loop is awaited, then the cleanups run in order.

/** What runUntilTeardown needs of a test: tap's t, or anything with teardown. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export function runUntilTeardown(t: Teardown, loop: (signal: AbortSignal) => Promise<unknown>, ...cleanups: (() => unknown)[]): void {
  const ac = new AbortController();
  const running = loop(ac.signal);
  t.teardown(async () => {
    ac.abort();
    await running;
    for (const c of cleanups) await c();
  });
}
