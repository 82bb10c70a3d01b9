import t from 'tap';
import { entryProblem, parseEntry, sameEntry, type Entry } from '@confd-haproxy/checker';

const good: Entry = {
  name: 'slave3301',
  host: '10.0.21.5',
  port: 3301,
  proxyport: 13351,
  servers: [{ host: '10.0.21.5', port: 3301, weight: 100, role: 'active' }],
  version: 1,
  checker: 'db-check-1:4711',
  updated: '2026-11-23T20:00:00.000Z',
};

t.test('the design example is a good entry', async (t) => {
  t.equal(entryProblem(good), undefined);
});

const bad: [string, Partial<Entry>, RegExp][] = [
  ['a name with a space', { name: 'slave 3301' }, /name "slave 3301"/],
  ['a host with a template brace', { host: '{{x}}' }, /host "\{\{x\}\}" is not a host/],
  ['port 0', { port: 0 }, /port 0 is not 1\.\.65535/],
  ['a proxyport above 65535', { proxyport: 70000 }, /proxyport 70000/],
  ['no servers', { servers: [] }, /servers is empty/],
  ['a server with a bad port', { servers: [{ host: 'h', port: 99999, weight: 1, role: 'active' }] }, /server h:99999 is not host:port/],
  ['an unknown role', { servers: [{ host: 'h', port: 1, weight: 1, role: 'primary' as 'active' }] }, /role "primary"/],
  ['a weight HAProxy refuses', { servers: [{ host: 'h', port: 1, weight: 300, role: 'active' }] }, /weight 300/],
];
for (const [what, patch, why] of bad) {
  t.test(`${what} is refused before it is written`, async (t) => {
    t.match(entryProblem({ ...good, ...patch } as Entry), why);
  });
}

t.test('entries that differ only in checker, updated or key order are the same', async (t) => {
  const other = JSON.parse(JSON.stringify({ updated: 'later', checker: 'b:2', version: 1, servers: good.servers, proxyport: 13351, port: 3301, host: '10.0.21.5', name: 'slave3301' })) as Entry;
  t.ok(sameEntry(good, other));
  t.notOk(sameEntry(good, { ...good, servers: [...good.servers, { host: '10.0.21.7', port: 3301, weight: 100, role: 'active' }] }), 'another server is a change');
  t.notOk(sameEntry(good, { ...good, port: 3302 }));
});

t.test('a stored value that is not an entry reads as absent, so it gets replaced', async (t) => {
  t.equal(parseEntry(undefined), undefined);
  t.equal(parseEntry('{not json'), undefined);
  t.equal(parseEntry('"a string"'), undefined);
  t.equal(parseEntry('null'), undefined);
  t.match(parseEntry('{"name":"slave3301","host":"10.0.21.5","port":3301,"proxyport":13351}'), { host: '10.0.21.5', port: 3301 }, "the original's entry is read");
});
