// Who keeps a listen name or port two entries of one resource claim: the key that served it last
// time, else the older key; a loser's last good value renders only if it collides with nothing.
import t from 'tap';
import { ClaimCache, decideOwnership, type StoredPair } from '@confd-haproxy/renderer';

const mem = (name: string, proxyport: number) => JSON.stringify({ name, host: '10.0.0.1', port: 11211, proxyport });
const galera = (name: string, proxyport: number, readerport: number) => JSON.stringify({ name, host: '10.0.0.2', port: 3306, proxyport, readerport });
const pair = (key: string, value: string, createIndex = 1): StoredPair => ({ key, value, createIndex });
const A = '/haproxy/memcached/a';
const B = '/haproxy/memcached/b';

t.test('entries that share nothing are all free to render', async (t) => {
  const o = decideOwnership([pair(A, mem('a', 1001)), pair(B, mem('b', 1002)), pair('/haproxy/galera/g', galera('g', 1003, 1004))], {});
  t.same([A, B, '/haproxy/galera/g'].map((k) => o.conflict(k)), [undefined, undefined, undefined]);
});

t.test('the key that served a port keeps it against a newer claimant, whatever their age', async (t) => {
  const o = decideOwnership([pair(A, mem('a', 1001), 9), pair(B, mem('b', 1001), 2)], { [A]: mem('a', 1001), [B]: mem('b', 1002) });
  t.equal(o.conflict(A), undefined);
  t.equal(o.conflict(B), 'proxyport 1001 is already served by /haproxy/memcached/a');
  t.ok(o.lastGoodFree(B), "b's last good value (port 1002) renders instead");
});

t.test('when nobody served it, the older key keeps it, then the first by key', async (t) => {
  const o = decideOwnership([pair(A, mem('a', 1001), 7), pair(B, mem('b', 1001), 3)], {});
  t.equal(o.conflict(A), 'proxyport 1001 is also claimed by /haproxy/memcached/b, an older key, which keeps it');
  t.equal(o.conflict(B), undefined);
  t.notOk(o.lastGoodFree(A), 'a has no last good value');
  const tie = decideOwnership([pair(B, mem('b', 1001)), pair(A, mem('a', 1001))], {});
  t.equal(tie.conflict(B), 'proxyport 1001 is also claimed by /haproxy/memcached/a, an older key, which keeps it');
});

t.test('when both served it (a memory from before this rule), the older key keeps it', async (t) => {
  const o = decideOwnership([pair(A, mem('a', 1001), 5), pair(B, mem('b', 1001), 4)], { [A]: mem('a', 1001), [B]: mem('b', 1001) });
  t.equal(o.conflict(A), 'proxyport 1001 is already served by /haproxy/memcached/b');
  t.notOk(o.lastGoodFree(A), "a's last good value collides too");
});

t.test('a bad current value keeps its last good claims: nobody takes them meanwhile', async (t) => {
  const o = decideOwnership([pair(A, '{"name":"a","host":"x y"}', 1), pair(B, mem('b', 1001), 1)], { [A]: mem('a', 1001) });
  t.ok(o.lastGoodFree(A), "a's last good value renders");
  t.equal(o.conflict(B), 'proxyport 1001 is already served by /haproxy/memcached/a');
});

t.test("a loser's last good value is offered only when it collides with nothing that renders", async (t) => {
  const C = '/haproxy/memcached/c';
  // a moves from 1002 onto c's 1001 while a new key b takes 1002.
  const o = decideOwnership([pair(A, mem('a', 1001), 1), pair(B, mem('b', 1002), 5), pair(C, mem('c', 1001), 2)], { [A]: mem('a', 1002), [C]: mem('c', 1001) });
  t.equal(o.conflict(A), 'proxyport 1001 is already served by /haproxy/memcached/c');
  t.equal(o.conflict(B), undefined);
  t.notOk(o.lastGoodFree(A), 'its old port is taken: a is left out');
});

t.test('listen names collide across kinds, galera reader listens and ports included', async (t) => {
  const G = '/haproxy/galera/main';
  const R = '/haproxy/redis/main-reader';
  const o = decideOwnership([pair(G, galera('main', 1001, 1002), 1), pair(R, JSON.stringify({ name: 'main-reader', host: 'h', port: 1, proxyport: 1003 }), 2), pair(A, mem('a', 1002), 3)], {});
  t.equal(o.conflict(R), 'listen main-reader is also claimed by /haproxy/galera/main, an older key, which keeps it');
  t.equal(o.conflict(A), 'proxyport 1002 is also claimed by /haproxy/galera/main, an older key, which keeps it', "a's proxyport is main's readerport");
});

t.test('values that are not entries of their key, and dot folders, claim nothing', async (t) => {
  const o = decideOwnership(
    [pair(A, mem('b', 1001), 1), pair('/haproxy/.status/r1', mem('r1', 1001), 1), pair('/haproxy/x', 'not json', 1), pair(B, mem('b', 1001), 9)],
    {},
  );
  t.equal(o.conflict(B), undefined, 'a misnamed entry under a, a status key and a non-entry leave b its port');
});

t.test('a cache across decisions gives the same verdicts as a fresh decision, also after a value changes', async (t) => {
  const cache = new ClaimCache();
  const last = { [A]: mem('a', 1001), [B]: mem('b', 1002) };
  const steady = [pair(A, mem('a', 1001), 1), pair(B, mem('b', 1002), 2)];
  const moved = [pair(A, mem('a', 1001), 1), pair(B, mem('b', 1001), 2)];
  for (const pairs of [steady, steady, moved, moved, steady]) {
    const cached = decideOwnership(pairs, last, cache);
    const fresh = decideOwnership(pairs, last);
    t.same([cached.conflict(A), cached.conflict(B), cached.lastGoodFree(A), cached.lastGoodFree(B)], [fresh.conflict(A), fresh.conflict(B), fresh.lastGoodFree(A), fresh.lastGoodFree(B)]);
  }
  t.match(decideOwnership(moved, last, cache).conflict(B), /proxyport 1001 is already served by/);
});
