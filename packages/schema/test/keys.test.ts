import t from 'tap';
import { BUNDLE_KEY, entryKey, lockKey, maintenanceKey, maintenancePrefix, prefixedKey, prefixProblem, statusKey, STATUS_PREFIX } from '@confd-haproxy/schema';

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
