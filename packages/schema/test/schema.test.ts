import t from 'tap';
import { BUNDLE_KEY, entryKey, entryProblem, lockKey, maintenanceKey, maintenancePrefix, prefixedKey, prefixProblem, statusKey, STATUS_PREFIX, type Entry } from '@confd-haproxy/schema';

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

t.test('entries, locks and maintenance keys sit under the prefix; status and bundle keys do not', async (t) => {
  t.equal(entryKey('mysqlslave', 's1'), 'haproxy/mysqlslave/s1');
  t.equal(entryKey('mysqlslave', 's1', '/prod/'), 'prod/haproxy/mysqlslave/s1');
  t.equal(lockKey('galera', 'main', 'prod'), 'prod/haproxy/.locks/galera/main');
  t.equal(maintenancePrefix('galera', 'main'), 'haproxy/.maint/galera/main/');
  t.equal(maintenanceKey('galera', 'main', { host: '10.0.0.1', port: 3306 }, 'a/b'), 'a/b/haproxy/.maint/galera/main/10.0.0.1:3306');
  t.equal(statusKey('abc'), 'haproxy/.status/abc');
  t.ok(statusKey('abc').startsWith(STATUS_PREFIX));
  t.equal(BUNDLE_KEY, 'haproxy/.config/bundle');
  t.equal(prefixedKey('', 'haproxy/x'), 'haproxy/x');
});

t.test('a prefix is segments of tag characters, never . or ..', async (t) => {
  t.equal(prefixProblem('/prod/eu-1/'), undefined);
  t.equal(prefixProblem(''), undefined);
  t.match(prefixProblem('prod/../x'), /"\.\." is not one/);
  t.match(prefixProblem('pr od'), /"pr od" is not one/);
});
