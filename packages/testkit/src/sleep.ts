export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `fn` every `stepMs` until it holds or `ms` have passed; its last answer. */
export async function until(fn: () => boolean | Promise<boolean>, ms: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await sleep(stepMs);
  }
  return fn();
}

/** A logger that says nothing: for tests that look at results, not at log lines. */
export const quiet = { debug(): void {}, info(): void {}, warn(): void {}, error(): void {} };
