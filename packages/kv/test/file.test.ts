import t from 'tap';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createFileStore, watchPrefix } from '@confd-haproxy/kv';

const run = promisify(execFile);
const hammer = fileURLToPath(new URL('./helpers/hammer.mjs', import.meta.url));

t.test('a hand-written flat JSON object is a valid store', async (t) => {
  const dir = t.testdir({
    'kv.json': JSON.stringify({
      'haproxy/memcached/mem1': '{"name":"mem1","host":"127.0.0.1","port":11211,"proxyport":16211}',
      '/haproxy/mysqlslave/slave3301': '{"name":"slave3301"}',
    }),
  });
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const snap = await store.list('haproxy/');
  t.same(snap.pairs.map((p) => p.key), ['haproxy/memcached/mem1', 'haproxy/mysqlslave/slave3301'], 'a leading slash is dropped');
  t.equal(JSON.parse(snap.pairs[0]!.value).port, 11211);
  t.ok(await store.put('haproxy/memcached/mem2', '{"name":"mem2"}'));
  const after = JSON.parse(await readFile(join(dir, 'kv.json'), 'utf8'));
  t.equal(after['haproxy/memcached/mem1'], snap.pairs[0]!.value, 'a write keeps the hand-written entries');
  t.type(after['@meta'], 'object', 'and adds its metadata beside them');
});

t.test('a corrupt file is an error naming the file and the position, never an empty store', async (t) => {
  const dir = t.testdir({ 'kv.json': '{\n  "haproxy/a": "x",\n  "haproxy/b": \n}\n' });
  const file = join(dir, 'kv.json');
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  await t.rejects(store.list('haproxy/'), { code: 'KV_CORRUPT', message: new RegExp(`${file}: not valid JSON at line 4 column 1`) });
  await t.rejects(store.put('haproxy/c', 'y'), { code: 'KV_CORRUPT' }, 'a write refuses too, so nothing is lost');
  t.equal(await readFile(file, 'utf8'), '{\n  "haproxy/a": "x",\n  "haproxy/b": \n}\n', 'the file is untouched');
});

t.test('a value that is not a string is an error naming the key', async (t) => {
  const dir = t.testdir({ 'kv.json': JSON.stringify({ 'haproxy/memcached/mem1': { name: 'mem1' } }) });
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  await t.rejects(store.list(''), { code: 'KV_CORRUPT', message: /key "haproxy\/memcached\/mem1" must hold a string/ });
});

t.test('an empty file is an error, a missing file an empty store', async (t) => {
  const dir = t.testdir({ 'empty.json': '' });
  const empty = createFileStore({ file: join(dir, 'empty.json') });
  const missing = createFileStore({ file: join(dir, 'missing.json') });
  t.teardown(() => Promise.all([empty.close(), missing.close()]));
  await t.rejects(empty.list(''), { code: 'KV_CORRUPT', message: /is empty/ });
  t.same((await missing.list('')).pairs, []);
});

t.test('a hand edit of a managed file wakes a watcher with a higher index', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  await store.put('haproxy/memcached/mem1', 'one');
  const before = await store.list('haproxy/');
  const ac = new AbortController();
  const pending = store.watch('haproxy/', before.index, { signal: ac.signal, waitMs: 10_000 });
  const doc = JSON.parse(await readFile(file, 'utf8'));
  doc['haproxy/memcached/mem1'] = 'two';
  await writeFile(file, JSON.stringify(doc));
  const snap = await pending;
  t.equal(snap.pairs[0]?.value, 'two');
  t.ok(snap.index > before.index);
});

t.test('watchPrefix yields only real changes and stops on abort', async (t) => {
  const dir = t.testdir({});
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  await store.put('haproxy/a', '1');
  const ac = new AbortController();
  const seen: string[] = [];
  const loop = (async () => {
    for await (const snap of watchPrefix(store, 'haproxy/', { signal: ac.signal, waitMs: 2000 })) {
      seen.push(snap.pairs.map((p) => p.value).join(','));
      if (seen.length === 3) ac.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await store.put('other/x', 'ignored');
  await store.put('haproxy/a', '1'); // same value: a new index, no change in data
  await new Promise((r) => setTimeout(r, 200));
  await store.put('haproxy/b', '2');
  await new Promise((r) => setTimeout(r, 200));
  await store.delete('haproxy/a');
  // Bounded, and the bound's timer cleared so it does not hold the process open once the loop ends.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([loop, new Promise((r) => (bound = setTimeout(r, 10_000)))]);
  clearTimeout(bound);
  t.same(seen, ['1', '1,2', '2']);
});

t.test('two writer processes with CAS and a watcher lose no write', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  const key = 'haproxy/counter';
  const n = 150;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 90_000);
  let lastSeen = '';
  const watcher = (async () => {
    for await (const snap of watchPrefix(store, 'haproxy/', { signal: ac.signal, waitMs: 5000 })) {
      lastSeen = snap.pairs.find((p) => p.key === key)?.value ?? '';
      if (lastSeen === String(2 * n)) break;
    }
  })();
  const [one, two] = await Promise.all([
    run(process.execPath, [hammer, file, key, String(n)], { timeout: 90_000 }),
    run(process.execPath, [hammer, file, key, String(n)], { timeout: 90_000 }),
  ]);
  const r1 = JSON.parse(one.stdout) as { done: number; conflicts: number };
  const r2 = JSON.parse(two.stdout) as { done: number; conflicts: number };
  t.equal(r1.done + r2.done, 2 * n, 'every increment landed');
  await watcher;
  clearTimeout(timer);
  t.equal((await store.get(key))?.value, String(2 * n), 'no write was lost');
  t.equal(lastSeen, String(2 * n), 'the watcher saw the final value');
  t.comment(`CAS conflicts retried: ${r1.conflicts + r2.conflicts}`);
});

t.test('the last write of a fast burst wakes a watcher without waiting for the slow poll', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'kv.json');
  const writer = createFileStore({ file });
  const reader = createFileStore({ file, pollMs: 60_000 });
  t.teardown(() => Promise.all([writer.close(), reader.close()]));
  await writer.put('haproxy/k', '0');
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 20_000);
  let seen = '';
  let at = 0;
  const watching = (async () => {
    for await (const snap of watchPrefix(reader, 'haproxy/', { signal: ac.signal, waitMs: 30_000 })) {
      seen = snap.pairs[0]?.value ?? '';
      if (seen === '50') {
        at = Date.now();
        break;
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 1; i <= 50; i++) await writer.put('haproxy/k', String(i));
  const done = Date.now();
  await watching;
  clearTimeout(timer);
  t.equal(seen, '50', 'the final value arrived');
  t.ok(at - done < 5000, `${at - done} ms after the last write, not at the 60 s poll`);
});
