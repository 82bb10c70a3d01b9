import t from 'tap';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { TagChecker, runTagCheckers, type PassReport } from '@confd-haproxy/checker';
import { pingKind, quiet, startPingService, within } from './helpers.js';

t.test('many tags on one signal add one abort listener to it, not one per loop or probe, and all stop with it', async (t) => {
  const targets = await Promise.all(Array.from({ length: 6 }, () => startPingService('ok')));
  t.teardown(() => Promise.all(targets.map((s) => s.close())));
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  t.teardown(() => store.close());
  const tags = Array.from({ length: 24 }, (_, i) => `p${i}`);
  const checkers = tags.map((tag) => new TagChecker({ tag, kind: pingKind({ targets }), store, logger: quiet, checker: 'test:1', timeoutMs: 500, retryUp: 1, retryDown: 1, lockTtlMs: 5000, noLock: true }));
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const ac = new AbortController();
  const passes: PassReport[] = [];
  const running = runTagCheckers(checkers, { intervalMs: 50, signal: ac.signal, onPass: (r) => passes.push(r) });
  let most = 0;
  const enough = await within(10_000, () => {
    most = Math.max(most, getEventListeners(ac.signal, 'abort').length);
    return passes.length >= tags.length * 3;
  });
  t.ok(enough >= 0, 'every tag passed a few times');
  t.equal(most, 1, 'one listener on the shared signal while 24 loops and 144 probes ran');
  ac.abort();
  await running;
  t.equal(getEventListeners(ac.signal, 'abort').length, 0, 'and none once they stopped');
  t.same(warnings.filter((w) => /MaxListeners|memory leak/.test(w)), [], 'no leak warning');
});
