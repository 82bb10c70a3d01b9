import t from 'tap';
import type { KVInfo, KVPair, KVReader, KVSnapshot, KVWatcher } from '@confd-haproxy/kv';
import { planAll, runOnce, runWatch, type PassResult } from '@confd-haproxy/renderer';
import { confdirFiles, dest, entry, quietLogger, read, until } from './helpers.js';

/** A read-only source of fixed pairs (as a static file or a Vault KV mount would be): no put, no delete, no locks. */
function staticReader(values: Record<string, string>): KVReader & KVWatcher & KVInfo {
  const pairs: KVPair[] = Object.keys(values)
    .sort()
    .map((key) => ({ key, value: values[key]!, modifyIndex: 1, createIndex: 1, flags: 0 }));
  const snapshot = (prefix: string): KVSnapshot => ({ index: 1, pairs: pairs.filter((p) => p.key.startsWith(prefix)), knownLeader: true });
  return {
    backend: 'static',
    describe: 'static',
    list: async (prefix) => snapshot(prefix),
    get: async (key) => pairs.find((p) => p.key === key),
    // The data never changes: a watch from the current index waits out its time (or its signal).
    watch: (prefix, since, o) =>
      new Promise((resolve) => {
        if (since < 1) return resolve(snapshot(prefix));
        const done = () => {
          clearTimeout(timer);
          resolve(snapshot(prefix));
        };
        const timer = setTimeout(done, o.waitMs ?? 60_000);
        o.signal.addEventListener('abort', done, { once: true });
      }),
  };
}

t.test('a read-only store that cannot write or lock drives a whole pass', async (t) => {
  const dir = t.testdir(confdirFiles());
  const store = staticReader({ 'haproxy/mysqlslave/s1': entry('s1', 3301), 'haproxy/mysqlslave/s2': entry('s2', 3302), 'haproxy/other/x': '{}' });
  t.notOk('put' in store || 'delete' in store || 'acquireLock' in store, 'the store has no write or lock methods to call');
  const pass = await runOnce({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal });
  t.match(pass, { ok: true, exitCode: 0, resources: [{ changed: true }] });
  t.equal(read(dest(dir)), 'listen s1\n    server s1-mysql 127.0.0.1:3301\nlisten s2\n    server s2-mysql 127.0.0.1:3302\n');
});

t.test('a plan over a read-only store shows the change and writes nothing', async (t) => {
  const dir = t.testdir(confdirFiles());
  const store = staticReader({ 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  const plan = await planAll({ store, confdir: dir, logger: quietLogger(), signal: new AbortController().signal });
  t.match(plan, { ok: true, pending: true });
  t.match(plan.resources[0]?.diff, /\+listen s1/);
  t.equal(read(dest(dir)), '', 'dest not written');
});

t.test('watch mode renders from a store that can only read and watch, and stops on its signal', async (t) => {
  const dir = t.testdir(confdirFiles());
  const store = staticReader({ 'haproxy/mysqlslave/s1': entry('s1', 3301) });
  const ac = new AbortController();
  const passes: PassResult[] = [];
  const done = runWatch({ store, confdir: dir, logger: quietLogger(), signal: ac.signal, wait: { minMs: 50, maxMs: 500 }, onPass: (p) => passes.push(p) });
  t.teardown(() => ac.abort());
  t.ok(await until(() => passes.some((p) => p.ok)), 'a pass ran');
  t.equal(read(dest(dir)), 'listen s1\n    server s1-mysql 127.0.0.1:3301\n');
  ac.abort();
  await done;
  t.notOk(passes.some((p) => !p.ok), 'no pass failed');
});
