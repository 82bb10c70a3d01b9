import t from 'tap';
import { tagConfig, readDbConf } from '@confd-haproxy/check-mysql';
import { join } from 'node:path';

t.test('a section of db.conf becomes a tag config with the original defaults', async (t) => {
  const dir = t.testdir({ 'db.conf': '[slave3301]\ndatabase=test\nhost=10.0.21.5\nport=3301\nuser=monitor\npassword=xx\ndefault-character-set=utf8\n' });
  const c = tagConfig('db.conf', readDbConf(join(dir, 'db.conf')), 'slave3301');
  t.match(c, { tag: 'slave3301', host: '10.0.21.5', port: 3301, user: 'monitor', proxyport: 13351, replicas: [] });
});

const bad: [string, Record<string, Record<string, unknown>>, string, RegExp][] = [
  ['a missing section', { other: { host: 'h', port: '1', user: 'u' } }, 'slave3301', /db\.conf: no section \[slave3301\] \(sections: other\)/],
  ['a missing field', { s: { port: '3301', user: 'u' } }, 's', /db\.conf: \[s\] host is required/],
  ['a bad port', { s: { host: 'h', port: '99999', user: 'u' } }, 's', /db\.conf: \[s\] port "99999" is not a port/],
  ['an unknown setting', { s: { host: 'h', port: '1', user: 'u', hots: 'x' } }, 's', /db\.conf: \[s\] hots is not a known setting/],
  ['a bad replica', { s: { host: 'h', port: '1', user: 'u', replicas: 'nohostport' } }, 's', /replicas: "nohostport" is not host:port/],
];
for (const [what, doc, tag, message] of bad) {
  t.test(`${what} is an error naming the file, section and field`, async (t) => {
    t.throws(() => tagConfig('db.conf', doc, tag), { code: 'CHECKER_CONFIG', message });
  });
}
