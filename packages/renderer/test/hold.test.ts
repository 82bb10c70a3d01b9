// A left-out bad entry keeps the sections the current dest serves for it, in their place; nothing
// else of the render changes, and a bad entry with a last good value or from the catalog is not held.
import t from 'tap';
import { guardRender, holdServedSections, sectionNamesOf, type BadEntry } from '@confd-haproxy/renderer';

const previous = ['global', '    maxconn 10', '', 'listen a', '    bind :1', '    server a-0 1.1.1.1:1', '', 'listen mem1', '    bind :2', '    server mem1-0 2.2.2.2:2', '', 'listen z', '    bind :3', '    server z-0 3.3.3.3:3', ''].join('\n');
const rendered = ['global', '    maxconn 10', '', 'listen a', '    bind :1', '    server a-0 9.9.9.9:1', '', 'listen z', '    bind :3', '    server z-0 3.3.3.3:3', ''].join('\n');
const bad = (key: string, fallback: BadEntry['fallback'], source: BadEntry['source'] = 'entry'): BadEntry => ({ resource: 'conf.d/h.toml', key, message: `${key}: entry: bad`, fallback, source });

t.test("a left-out entry's listen is kept as dest has it, between the same neighbours", async (t) => {
  const held = holdServedSections(previous, rendered, [bad('haproxy/memcached/mem1', 'left-out')]);
  t.equal(held.text, ['global', '    maxconn 10', '', 'listen a', '    bind :1', '    server a-0 9.9.9.9:1', '', 'listen mem1', '    bind :2', '    server mem1-0 2.2.2.2:2', '', 'listen z', '    bind :3', '    server z-0 3.3.3.3:3', ''].join('\n'));
  t.match(held.bad, [{ key: 'haproxy/memcached/mem1', fallback: 'kept' }]);
});

t.test('nothing is held for an entry dest does not serve, one with a last good value, or a catalog instance', async (t) => {
  for (const b of [bad('haproxy/memcached/new', 'left-out'), bad('haproxy/memcached/mem1', 'last-good'), bad('haproxy/memcached/mem1', 'left-out', 'catalog')]) {
    t.same(holdServedSections(previous, rendered, [b]), { text: rendered, bad: [b] }, `${b.key} ${b.fallback} ${b.source}`);
  }
  t.same(holdServedSections(undefined, rendered, [bad('haproxy/memcached/mem1', 'left-out')]).text, rendered, 'a first render has nothing to keep');
});

t.test('a galera entry owns its writer and reader listens', async (t) => {
  t.same(sectionNamesOf('haproxy/galera/main'), ['main-writer', 'main-reader']);
  t.same(sectionNamesOf('/staging/haproxy/memcached/mem1'), ['mem1']);
});

t.test('max_removed counts removed listens, not only server lines', async (t) => {
  const three = ['listen a', '    server a-0 1.1.1.1:1', '    server a-1 1.1.1.2:1', '    server a-2 1.1.1.3:1', 'listen b', '    server b-0 2.2.2.2:2', 'listen c', '    server c-0 3.3.3.3:3'].join('\n');
  const lostTwo = ['listen a', '    server a-0 1.1.1.1:1', '    server a-1 1.1.1.2:1', '    server a-2 1.1.1.3:1', '    server a-3 1.1.1.4:1', '    server a-4 1.1.1.5:1'].join('\n');
  const err = guardRender({ name: 'h', previous: three, rendered: lostTwo, knownLeader: true, allowStale: false, limits: { maxRemoved: 0.5 } });
  t.match(err?.message, /removes 2 of 3 sections at once \(listen b, listen c; 67 % > max_removed 50 %\)/);
  t.equal(guardRender({ name: 'h', previous: three, rendered: three.replace('listen c', 'listen c2'), knownLeader: true, allowStale: false, limits: { maxRemoved: 0.5 } }), undefined, 'one of three is within it');
});

t.test('a kept section never binds a port the render gives to another entry', async (t) => {
  const taken = rendered.replace('listen z\n    bind :3', 'listen z\n    bind :2');
  const b = bad('haproxy/memcached/mem1', 'left-out');
  t.same(holdServedSections(previous, taken, [b]), { text: taken, bad: [b] });
});
