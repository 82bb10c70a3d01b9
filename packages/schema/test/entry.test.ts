// The entry: what a checker may write, what a template may render, when two are the same, and what a stored value reads as.
import t from 'tap';
import { entryProblem, parseEntry, sameEntry, type Entry } from '@confd-haproxy/schema';

const written: Entry = {
  name: 'mem11211',
  host: '10.0.0.5',
  port: 11211,
  proxyport: 16211,
  servers: [{ host: '10.0.0.5', port: 11211, weight: 100, role: 'active' }],
  version: 1,
  checker: 'cache-check-1:99',
  updated: '2026-11-23T20:00:00.000Z',
};
const original = { name: 'slave3301', host: '10.0.21.5', port: 3301, proxyport: 13351 };

t.test('an entry as a checker writes it is good to write and to render', async (t) => {
  t.equal(entryProblem(written, 'write'), undefined);
  t.equal(entryProblem(written, 'read'), undefined);
});

t.test("the original's four-field entry renders, but a checker never writes one", async (t) => {
  t.equal(entryProblem(original, 'read'), undefined);
  t.equal(entryProblem(original, 'write'), 'servers is not an array');
});

t.test('a server without weight or role renders (templates fall back) but is not written', async (t) => {
  const bare = { ...written, servers: [{ host: 'h', port: 1 }] };
  t.equal(entryProblem(bare, 'read'), undefined);
  t.match(entryProblem(bare, 'write'), /^server h:1 has weight undefined/);
});

t.test('an empty server list is refused for writing only', async (t) => {
  t.equal(entryProblem({ ...written, servers: [] }, 'write'), 'servers is empty');
  t.equal(entryProblem({ ...written, servers: [] }, 'read'), undefined);
});

const badEither: [string, Record<string, unknown>, RegExp][] = [
  ['a name that is a number', { name: 3301 }, /^name 3301 is not/],
  ['a host that is a number', { host: 10 }, /^host 10 is not a host name/],
  ['a host with a newline', { host: '10.0.0.1\nserver evil' }, /^host "10\.0\.0\.1\\nserver evil" is not/],
  ['a server that is not an object', { servers: [null] }, /^servers\[0\] is not an object$/],
  ['readers that are not a list', { readers: 'x' }, /^readers is not an array$/],
  ['a readerport of 0', { readerport: 0 }, /^readerport 0 is not/],
];
for (const [what, patch, why] of badEither) {
  t.test(`${what} is refused for reading and for writing`, async (t) => {
    t.match(entryProblem({ ...written, ...patch }, 'read'), why);
    t.match(entryProblem({ ...written, ...patch }, 'write'), why);
  });
}

const badServers: [string, Record<string, unknown>, string, string][] = [
  ['a reader with a bad host', { readers: [{ host: 'a b', port: 1, weight: 1, role: 'active' }] }, 'readers[0].host "a b" is not a host name or address', 'server "a b":1 is not host:port'],
  ['a server with a bad port', { servers: [{ host: 'h', port: 0, weight: 1, role: 'active' }] }, 'servers[0].port 0 is not a port number (1..65535)', 'server h:0 is not host:port'],
  ['a weight HAProxy refuses', { servers: [{ host: 'h', port: 1, weight: 257, role: 'active' }] }, 'servers[0].weight 257 is not 0..256', "server h:1 has weight 257 (0..256, HAProxy's range)"],
  ['an unknown role', { servers: [{ host: 'h', port: 1, weight: 1, role: 'primary' }] }, 'servers[0].role "primary" is not active, backup, drain or maint', 'server h:1 has role "primary" (active, backup, drain, maint)'],
];
for (const [what, patch, read, write] of badServers) {
  t.test(`${what} is refused, named by its field for a template and by host:port for a checker`, async (t) => {
    t.equal(entryProblem({ ...written, ...patch }, 'read'), read);
    t.equal(entryProblem({ ...written, ...patch }, 'write'), write);
  });
}

t.test('a bad port names the range for a checker and says what it is not for a template', async (t) => {
  t.equal(entryProblem({ ...written, port: '3306' }, 'write'), 'port 3306 is not 1..65535');
  t.equal(entryProblem({ ...written, port: '3306' }, 'read'), 'port "3306" is not a port number (1..65535)');
});

t.test('a value that is not an object is not an entry', async (t) => {
  for (const v of [null, 'x', 3, [written]]) t.equal(entryProblem(v, 'read'), 'the entry is not an object');
});

const badWrite: [string, Partial<Entry>, RegExp][] = [
  ['a name with a space', { name: 'slave 3301' }, /name "slave 3301"/],
  ['a host with a template brace', { host: '{{x}}' }, /host "\{\{x\}\}" is not a host/],
  ['port 0', { port: 0 }, /port 0 is not 1\.\.65535/],
  ['a proxyport above 65535', { proxyport: 70000 }, /proxyport 70000/],
  ['no servers', { servers: [] }, /servers is empty/],
  ['a server with a bad port', { servers: [{ host: 'h', port: 99999, weight: 1, role: 'active' }] }, /server h:99999 is not host:port/],
  ['an unknown role', { servers: [{ host: 'h', port: 1, weight: 1, role: 'primary' as 'active' }] }, /role "primary"/],
  ['a weight HAProxy refuses', { servers: [{ host: 'h', port: 1, weight: 300, role: 'active' }] }, /weight 300/],
  ['a reader with an unknown role', { readerport: 3307, readers: [{ host: 'h', port: 1, weight: 1, role: 'reader' as 'active' }] }, /role "reader"/],
  ['a drained node that is not host:port', { drained: ['h 1'] }, /drained holds "h 1", not host:port/],
  ['a maintenance list that is not a list', { maintenance: 'h:1' as unknown as string[] }, /maintenance is not an array/],
  ['a down node that is not a string', { down: [3306] as unknown as string[] }, /down holds 3306/],
];
for (const [what, patch, why] of badWrite) {
  t.test(`${what} is refused before it is written`, async (t) => {
    t.match(entryProblem({ ...written, ...patch } as Entry), why);
  });
}

t.test('entries that differ only in checker, updated or key order are the same', async (t) => {
  const other = JSON.parse(JSON.stringify({ updated: 'later', checker: 'b:2', version: 1, servers: written.servers, proxyport: written.proxyport, port: written.port, host: written.host, name: written.name })) as Entry;
  t.ok(sameEntry(written, other));
  t.notOk(sameEntry(written, { ...written, servers: [...written.servers, { host: '10.0.0.7', port: 11211, weight: 100, role: 'active' }] }), 'another server is a change');
  t.notOk(sameEntry(written, { ...written, port: 11212 }));
});

t.test('a stored value that is not an entry reads as absent, so it gets replaced', async (t) => {
  t.equal(parseEntry(undefined), undefined);
  t.equal(parseEntry('{not json'), undefined);
  t.equal(parseEntry('"a string"'), undefined);
  t.equal(parseEntry('null'), undefined);
  t.match(parseEntry('{"name":"slave3301","host":"10.0.21.5","port":3301,"proxyport":13351}'), { host: '10.0.21.5', port: 3301 }, "the original's entry is read");
});
