import t from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';

t.test('hundreds of concurrent writes from one process all land, each with its own CAS outcome', async (t) => {
  const file = join(t.testdir({}), 'kv.json');
  const store = createFileStore({ file });
  t.teardown(() => store.close());
  const keys = Array.from({ length: 300 }, (_, i) => `haproxy/memcached/mem${i}`);
  const written = await Promise.all(keys.map((k, i) => store.put(k, `v${i}`, { cas: 0 })));
  t.ok(written.every(Boolean), 'every create succeeded');
  const list = await store.list('haproxy/memcached/');
  t.equal(list.pairs.length, 300, 'and every key is there');
  t.equal((await store.get('haproxy/memcached/mem299'))?.value, 'v299');
  const racing = await Promise.all([store.put('haproxy/one', 'a', { cas: 0 }), store.put('haproxy/one', 'b', { cas: 0 })]);
  t.same(racing, [true, false], 'two creates of one key queued together: the first wins, the second sees it');
  t.equal((await store.get('haproxy/one'))?.value, 'a');
  const other = createFileStore({ file });
  t.teardown(() => other.close());
  t.equal((await other.list('haproxy/memcached/')).pairs.length, 300, 'another client reads them from the file');
});
