// The system under test for the e2e files that need one checker: HAProxy rendered from the shipped
// templates, the checker's loop and the watching renderer over one file store. Stopped at teardown.
import type { Test } from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { TagChecker, runTagChecker, type CheckerKind } from '@confd-haproxy/checker';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch } from '@confd-haproxy/renderer';
import { quiet, type RenderedHAProxy, startRenderedHAProxy, tempDir } from '@confd-haproxy/testkit';


/** Until `ms` runs out, ask `probe` every 50 ms whether it answers `want`; the last answer is a comment. */
export async function eventuallyAnswers<T>(t: Test, probe: () => Promise<T>, want: T, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last === want) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.comment(`last answer: ${String(last)}`);
  return false;
}

export async function startSystem(t: Test, opts: { keys: string[]; tag: string; kind: CheckerKind<any>; timeoutMs: number }): Promise<RenderedHAProxy> {
  const dir = tempDir('e2e-kv');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stack = await startRenderedHAProxy({ keys: opts.keys });
  t.teardown(() => stack.stop());
  const file = join(dir, 'kv.json');
  const checkerStore = createFileStore({ file, pollMs: 200 });
  const rendererStore = createFileStore({ file, pollMs: 200 });
  const ac = new AbortController();
  const checker = new TagChecker({ tag: opts.tag, kind: opts.kind, store: checkerStore, logger: quiet, checker: 'e2e:1', timeoutMs: opts.timeoutMs, retryUp: 2, retryDown: 1, lockTtlMs: 10_000 });
  const checking = runTagChecker(checker, { intervalMs: 250, signal: ac.signal });
  const rendering = runWatch({ store: rendererStore, confdir: stack.dir, logger: quiet, signal: ac.signal, env: stack.env, wait: { minMs: 50, maxMs: 500 } });
  t.teardown(async () => {
    ac.abort();
    await Promise.all([checking, rendering]);
    await checkerStore.close();
    await rendererStore.close();
  });
  return stack;
}
