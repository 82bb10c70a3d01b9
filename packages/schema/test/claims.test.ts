// Entries own their key: the name is the key's tag, and the listen names and ports an entry claims
// are the ones the shipped templates (templates/partials/*.hbs) render for it.
import t from 'tap';
import { entryClaims, entryProblem, keyKind, keyTag, ownerProblem } from '@confd-haproxy/schema';

t.test('the tag and kind of a key are its last two segments, under any prefix', async (t) => {
  t.equal(keyTag('/haproxy/memcached/mem11211'), 'mem11211');
  t.equal(keyKind('/haproxy/memcached/mem11211'), 'memcached');
  t.equal(keyKind('prod/haproxy/galera/main'), 'galera');
  t.equal(keyKind('main'), '');
});

t.test("an entry's name must be its key's tag", async (t) => {
  t.equal(ownerProblem('/haproxy/mysqlslave/slave3301', { name: 'slave3301' }), undefined);
  t.equal(ownerProblem('/haproxy/memcached/mem11211', { name: 'slave3301' }), 'name "slave3301" is not the key\'s tag "mem11211" (an entry speaks only for its own key)');
});

t.test('a galera entry claims its writer and reader listens and ports, every other kind one listen and its proxyport', async (t) => {
  const ids = (key: string, e: Parameters<typeof entryClaims>[1]) => entryClaims(key, e).map((c) => `${c.id} (${c.what})`);
  t.same(ids('/haproxy/memcached/m1', { name: 'm1', proxyport: 16211 }), ['listen:m1 (listen m1)', 'port:16211 (proxyport 16211)']);
  t.same(ids('/haproxy/galera/main', { name: 'main', proxyport: 13306, readerport: 13307 }), [
    'listen:main-writer (listen main-writer)',
    'port:13306 (proxyport 13306)',
    'listen:main-reader (listen main-reader)',
    'port:13307 (readerport 13307)',
  ]);
  t.same(ids('/haproxy/galera/main', { name: 'main', proxyport: 13306 }), ['listen:main-writer (listen main-writer)', 'port:13306 (proxyport 13306)'], 'no reader listen without a readerport');
  t.same(ids('/haproxy/redis/main', { name: 'main', proxyport: 13306, readerport: 13307 }), ['listen:main (listen main)', 'port:13306 (proxyport 13306)'], 'only galera renders readers');
});

t.test('a readerport equal to the proxyport is not an entry: two binds on one port', async (t) => {
  t.equal(entryProblem({ name: 'main', host: 'h', port: 3306, proxyport: 13306, readerport: 13306 }, 'read'), 'readerport 13306 is also its proxyport');
});
