// What a kind learns finding its targets reaches its choose as an argument, and what its choose says
// besides the entry reaches the pass's report: no state kept in the kind between the two.
import t from 'tap';
import type { Test } from 'tap';
import { runTagChecker, type CheckerKind, type Choice, type EntryBody, type PassReport, type Target } from '@confd-haproxy/checker';
import { lockFreeChecker, within } from './helpers.js';

const signal = new AbortController().signal;
const target: Target = { host: '127.0.0.1', port: 1001 };
const body: EntryBody = { name: 'c1', host: target.host, port: target.port, proxyport: 9000, servers: [{ ...target, weight: 100, role: 'active' }] };

interface Seen {
  /** The context each choose received, in order. */
  contexts: (string | undefined)[];
  /** How often targets was asked. */
  listed: number;
  /** The kind's hook for a closed connection, once the checker gave it. */
  lost?: (t: Target, reason: string) => void;
}

/** A kind whose targets come with "pass <n>", or alone with `alone`, and whose choose answers `answer`. */
function contextKind(seen: Seen, o: { alone?: boolean; answer?: () => Choice<{ why: string }> } = {}): CheckerKind<Target, never, string, { why: string }> {
  return {
    kind: 'ctx',
    targets: async () => {
      seen.listed++;
      return o.alone ? [target] : { targets: [target], context: `pass ${seen.listed}` };
    },
    probe: async () => ({ ok: true }),
    choose({ context }) {
      seen.contexts.push(context);
      return o.answer ? o.answer() : { entry: body };
    },
    onConnectionLost(fn) {
      seen.lost = fn;
    },
  };
}

const checker = <D>(t: Test, kind: CheckerKind<Target, never, string, D>) => lockFreeChecker(t, 'c1', kind);

t.test('choose receives the context its targets came with, a new one each pass', async (t) => {
  const seen: Seen = { contexts: [], listed: 0 };
  const c = checker(t, contextKind(seen));
  await c.pass(signal);
  await c.pass(signal);
  t.same(seen.contexts, ['pass 1', 'pass 2']);
});

t.test('targets that come alone give choose no context', async (t) => {
  const seen: Seen = { contexts: [], listed: 0 };
  const c = checker(t, contextKind(seen, { alone: true }));
  await c.pass(signal);
  t.same(seen.contexts, [undefined]);
});

t.test('a re-probe after a closed connection chooses with the context of the pass that listed the target', async (t) => {
  const seen: Seen = { contexts: [], listed: 0 };
  const c = checker(t, contextKind(seen));
  const reports: PassReport[] = [];
  const stop = new AbortController();
  const running = runTagChecker(c, { intervalMs: 60_000, signal: stop.signal, onPass: (r) => reports.push(r) });
  t.teardown(() => {
    stop.abort();
    return running;
  });
  t.ok((await within(2000, () => reports.length === 1)) >= 0, 'the first pass ran');
  seen.lost!(target, 'connection reset');
  t.ok((await within(2000, () => reports.some((r) => r.trigger === 'connection-lost'))) >= 0, 'the target was probed again');
  t.same(seen.contexts, ['pass 1', 'pass 1']);
  t.equal(seen.listed, 1, 'the targets were not listed again');
});

t.test("a Choice's problem and detail are on the pass's report, and nothing is written", async (t) => {
  const seen: Seen = { contexts: [], listed: 0 };
  const c = checker(t, contextKind(seen, { answer: () => ({ problem: 'two primaries', detail: { why: 'split' } }) }));
  const r = await c.pass(signal);
  t.same(r.choice, { problem: 'two primaries', detail: { why: 'split' } });
  t.same([r.wrote, r.entry, r.reason], [false, undefined, 'nothing to choose; entry kept']);
});

t.test('a Choice with an entry writes it and keeps its detail on the report', async (t) => {
  const seen: Seen = { contexts: [], listed: 0 };
  const c = checker(t, contextKind(seen, { answer: () => ({ entry: body, detail: { why: 'the only one' } }) }));
  const r = await c.pass(signal);
  t.equal(r.wrote, true);
  t.match(r.entry, { host: target.host, port: target.port });
  t.same(r.choice?.detail, { why: 'the only one' });
});

t.test('the choice is reported as the kind made it: an entry, or an empty choice that keeps the stored one', async (t) => {
  const seen: Seen = { contexts: [], listed: 0 };
  let answer: Choice<{ why: string }> = { entry: body };
  const c = checker(t, contextKind(seen, { answer: () => answer }));
  t.same((await c.pass(signal)).choice, { entry: body });
  answer = {};
  t.same((await c.pass(signal)).choice, {});
});

t.test('a pass whose targets cannot be listed has no choice on its report', async (t) => {
  const kind: CheckerKind<Target, never, string> = {
    ...contextKind({ contexts: [], listed: 0 }),
    targets: async () => {
      throw new Error('no sentinel answers');
    },
  };
  const r = await checker(t, kind).pass(signal);
  t.equal(r.reason, 'cannot list targets: no sentinel answers');
  t.notOk('choice' in r);
});
