// What may stand as a server's address and port in haproxy.cfg: IP addresses and RFC 1123 host
// names, ports 1..65535; nothing that HAProxy would read as more than one word.
import t from 'tap';
import { isHostName, isHostOrAddress, isPort } from '@confd-haproxy/schema';

t.test('IP addresses and host names are addresses', async (t) => {
  for (const good of ['10.0.0.1', '127.0.0.1', '::1', '2001:db8::7', 'fe80::1%eth0', 'db1', 'db-1.dc1.consul', 'web.service.consul.', 'project_web_1', 'a'.repeat(63), `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`]) {
    t.ok(isHostOrAddress(good), good);
  }
});

t.test('anything HAProxy would read as more than an address is not one', async (t) => {
  const attacks = ['10.6.6.6:6666 weight 256 source 0.0.0.0 #', '127.0.0.1:9 "${CONSUL_HTTP_TOKEN}" #', 'unix@/run/x.sock', 'ipv4@10.0.0.1'];
  const syntax = ['db 1', 'db1#', "db'1", 'db"1', 'db\\1', 'db$1', 'db%1', 'db1\n', 'db1\tbackup'];
  const shape = ['', '10.0.0.1:80', '[::1]', '-db1', 'db1-', 'db..1', '.', 'a'.repeat(64), `${'a.'.repeat(127)}a`];
  const bad = [...attacks, ...syntax, ...shape];
  for (const v of bad) t.notOk(isHostOrAddress(v), JSON.stringify(v));
  t.notOk(isHostOrAddress(undefined));
  t.notOk(isHostOrAddress(10));
  t.notOk(isHostName('10.0.0.1:80'));
});

t.test('a port is a whole number 1..65535', async (t) => {
  for (const good of [1, 80, 65535]) t.ok(isPort(good), String(good));
  for (const bad of [0, -1, 65536, 80.5, NaN, Infinity, '80', undefined, null]) t.notOk(isPort(bad), String(bad));
});
