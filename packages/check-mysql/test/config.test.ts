import t from 'tap';
import { tagConfig, readDbConf, parseDbConf, allTags } from '@confd-haproxy/check-mysql';
import { join } from 'node:path';

t.test("a section of the original's db.conf becomes a tag config with the original defaults", async (t) => {
  const dir = t.testdir({ 'db.conf': '# checkers\n[slave3301]\ndatabase=test\nhost=10.0.21.5\nport=3301\nuser=monitor\npassword=xx\ndefault-character-set=utf8\n' });
  const c = tagConfig('db.conf', readDbConf(join(dir, 'db.conf')), 'slave3301');
  t.match(c, { tag: 'slave3301', host: '10.0.21.5', port: 3301, user: 'monitor', password: 'xx', database: 'test', charset: 'utf8', proxyport: 13351, replicas: [], warnings: [] });
});

t.test('the new optional settings: replicas, proxyport, max_lag', async (t) => {
  const doc = parseDbConf('[s]\nhost = db1\nport = 3306\nuser = monitor\nreplicas = db2:3306, [::1]:3307\nproxyport = 23306\nmax_lag = 5\n', 'db.conf');
  t.match(tagConfig('db.conf', doc, 's'), { replicas: [{ host: 'db2', port: 3306 }, { host: '::1', port: 3307 }], proxyport: 23306, maxLag: 5 });
});

t.test('a password keeps its ; and # (values are verbatim, as Config::IniFiles read them)', async (t) => {
  const doc = parseDbConf('[s]\nhost=h\nport=1\nuser=u\npassword = p;a#s=s \n', 'db.conf');
  t.equal(tagConfig('db.conf', doc, 's').password, 'p;a#s=s');
});

t.test('settings other tools keep in db.conf are ignored, with a warning that names them', async (t) => {
  const c = tagConfig('db.conf', { s: { host: 'h', port: '1', user: 'u', hots: 'x' } }, 's');
  t.same(c.warnings.length, 1);
  t.match(c.warnings[0], /^db\.conf: \[s\] hots is not a checkmysqlslave setting and is ignored/);
});

t.test('--all-tags takes every section', async (t) => {
  t.same(allTags(parseDbConf('[a]\nhost=h\n[b]\nhost=h\n', 'db.conf')), ['a', 'b']);
});

const bad: [string, Record<string, Record<string, unknown>>, string, RegExp][] = [
  ['a missing section', { other: { host: 'h', port: '1', user: 'u' } }, 'slave3301', /^db\.conf: no section \[slave3301\] \(sections: other\)$/],
  ['a missing field', { s: { port: '3301', user: 'u' } }, 's', /^db\.conf: \[s\] host is required$/],
  ['an empty user', { s: { host: 'h', port: '3301', user: '' } }, 's', /^db\.conf: \[s\] user is required$/],
  ['a bad port', { s: { host: 'h', port: '99999', user: 'u' } }, 's', /^db\.conf: \[s\] port "99999" is not a port \(1\.\.65535\)$/],
  ['a port that is not a number', { s: { host: 'h', port: '33o6', user: 'u' } }, 's', /^db\.conf: \[s\] port "33o6" is not a port/],
  ['a host with spaces', { s: { host: 'db 1', port: '1', user: 'u' } }, 's', /^db\.conf: \[s\] host "db 1" is not a host name or address$/],
  ['a bad replica', { s: { host: 'h', port: '1', user: 'u', replicas: 'nohostport' } }, 's', /^db\.conf: \[s\] replicas: "nohostport" is not host:port$/],
  ['a bad proxyport', { s: { host: 'h', port: '1', user: 'u', proxyport: '0' } }, 's', /^db\.conf: \[s\] proxyport "0" is not a port/],
  ['a bad max_lag', { s: { host: 'h', port: '1', user: 'u', max_lag: 'soon' } }, 's', /^db\.conf: \[s\] max_lag "soon" is not a number of seconds$/],
  ['a section name that cannot be a key', { 'slave 1': { host: 'h', port: '1', user: 'u' } }, 'slave 1', /^db\.conf: \[slave 1\] is not a usable tag/],
];
for (const [what, doc, tag, message] of bad) {
  t.test(`${what} is an error naming the file, section and field`, async (t) => {
    t.throws(() => tagConfig('db.conf', doc, tag), { code: 'CHECKER_CONFIG', message });
  });
}

t.test('a line that is not INI names the file and line', async (t) => {
  t.throws(() => parseDbConf('[s]\nhost=h\nthis is not ini\n', 'etc/db.conf'), { code: 'CHECKER_CONFIG', message: /^etc\/db\.conf:3: expected \[section\] or key = value, found "this is not ini"$/ });
  t.throws(() => parseDbConf('host=h\n[s]\n', 'etc/db.conf'), { message: /^etc\/db\.conf:1: "host" is outside any \[section\]$/ });
});

t.test('a missing file is an error naming it', async (t) => {
  t.throws(() => readDbConf('/nonexistent/db.conf'), { code: 'CHECKER_CONFIG', message: /^\/nonexistent\/db\.conf: cannot read/ });
});
