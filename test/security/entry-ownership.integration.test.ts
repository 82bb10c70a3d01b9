// Entries own their key. A checker token (or any store writer) that may write one entry tries to
// take another service's traffic through it: another tag's proxyport, its listen name, a galera
// reader port. The shipped resource and templates render it, real `haproxy -c` checks it; the
// intruding entry must cost only itself (its last good value, or nothing), never the victim's
// listen or a later failover.
import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore, type KVStore } from '@confd-haproxy/kv';
import { runOnce, type PassResult, type RendererOptions } from '@confd-haproxy/renderer';
import { shippedConfdir } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));

const slave = (name: string, host: string, proxyport: number) => JSON.stringify({ name, host, port: 3301, proxyport });
const memcached = (name: string, proxyport: number) => JSON.stringify({ name, host: '127.0.0.1', port: 11211, proxyport });
const galera = (name: string, proxyport: number, readerport: number) =>
  JSON.stringify({ name, host: '10.0.23.5', port: 3306, proxyport, servers: [{ host: '10.0.23.5', port: 3306, weight: 100, role: 'active' }], readerport, readers: [{ host: '10.0.23.6', port: 3306, weight: 100, role: 'active' }] });

const SLAVE = 'haproxy/mysqlslave/slave3301';
const MEM = 'haproxy/memcached/mem11211';
const GALERA = 'haproxy/galera/main';

interface Site {
  dir: string;
  dest: string;
  store: KVStore;
  lines: string[];
  /** One -onetime pass with the shipped resource, as a restarted renderer (memory from --state-dir only). */
  pass(): Promise<PassResult>;
  cfg(): string;
}

/** A confdir with the shipped conf.d/haproxy.toml (real `haproxy -c`, dest in a temp dir) over a file store. */
function site(t: Test): Site {
  const { dir, dest, remove } = shippedConfdir('ownership');
  t.teardown(remove);
  const toml = readFileSync(join(root, 'conf.d/haproxy.toml'), 'utf8')
    .replace('dest = "/etc/haproxy/haproxy.cfg"', `dest = "${dest}"`)
    .replace('reload_cmd = "systemctl reload haproxy"', 'reload_cmd = "true"')
    .replace(/^runtime_socket = .*$/m, '');
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), toml);
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const lines: string[] = [];
  const opts: RendererOptions = {
    store,
    confdir: dir,
    stateDir: join(dir, 'state'),
    logger: { debug: () => {}, info: (m) => lines.push(`INFO ${m}`), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) },
    signal: new AbortController().signal,
    env: { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: join(dir, 'admin.sock') },
    commandTimeoutMs: 10_000,
  };
  return { dir, dest, store, lines, pass: () => runOnce(opts), cfg: () => readFileSync(dest, 'utf8') };
}

/** A site whose first render, slave3301 on 23351 and mem11211 on 21211, went through and is remembered. */
async function honestSite(t: Test): Promise<Site> {
  const s = site(t);
  await s.store.put(SLAVE, slave('slave3301', '10.0.21.5', 23351));
  await s.store.put(MEM, memcached('mem11211', 21211));
  t.ok((await s.pass()).ok, 'the honest render goes through and is remembered');
  return s;
}

const binds = (cfg: string, port: number) => cfg.split('\n').filter((l) => l.trim() === `bind 0.0.0.0:${port}`).length;
const listens = (cfg: string, name: string) => cfg.split('\n').filter((l) => l === `listen ${name}`).length;
/** The listen section `name` (up to the next blank line). */
const section = (cfg: string, name: string) => new RegExp(`^listen ${name}\\n(?:.+\\n)*`, 'm').exec(cfg)?.[0] ?? '';
const rendered = (r: PassResult) => r.resources.every((x) => !x.error);

function haproxyAccepts(t: Test, file: string): void {
  const check = spawnSync('/usr/sbin/haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  t.equal(check.status, 0, `haproxy -c accepts the rendered file ${check.stderr}`);
}

t.test("an entry that sets another tag's proxyport is refused: one bind, the victim's listen intact", async (t) => {
  const s = await honestSite(t);
  // The memcached checker's token rewrites its own key to bind the MySQL port.
  await s.store.put(MEM, memcached('mem11211', 23351));
  const pass = await s.pass();
  t.ok(rendered(pass), 'the render still goes through');
  const cfg = s.cfg();
  t.equal(binds(cfg, 23351), 1, 'port 23351 is bound once');
  t.match(section(cfg, 'slave3301'), /bind 0\.0\.0\.0:23351\n[^]*server slave3301-mysql 10\.0\.21\.5:3301 /, 'slave3301 keeps its port and its server');
  t.match(section(cfg, 'mem11211'), /bind 0\.0\.0\.0:21211\n/, 'mem11211 renders its last good value');
  t.match(pass.badEntries, [{ key: `/${MEM}`, fallback: 'last-good', message: `/${MEM}: entry: proxyport 23351 is already served by /${SLAVE}` }]);
  t.equal(pass.exitCode, 65, '-onetime says the input was bad');
  t.match(s.lines.join('\n'), /ERROR .*\/haproxy\/memcached\/mem11211: entry: proxyport 23351 is already served by \/haproxy\/mysqlslave\/slave3301/, 'the log names both keys');
  haproxyAccepts(t, s.dest);
});

t.test('a port thief never seen good is left out, and the older key keeps the port on a first render', async (t) => {
  const s = site(t);
  await s.store.put(SLAVE, slave('slave3301', '10.0.21.5', 23351));
  await s.store.put(MEM, memcached('mem11211', 23351));
  const pass = await s.pass();
  t.ok(rendered(pass), 'the render goes through');
  t.equal(binds(s.cfg(), 23351), 1, 'port 23351 is bound once');
  t.equal(listens(s.cfg(), 'slave3301'), 1, 'slave3301, the older key, serves it');
  t.equal(listens(s.cfg(), 'mem11211'), 0, 'mem11211 is left out');
  t.match(pass.badEntries, [{ key: `/${MEM}`, fallback: 'left-out', message: /proxyport 23351 is also claimed by \/haproxy\/mysqlslave\/slave3301, an older key/ }]);
  haproxyAccepts(t, s.dest);
});

t.test('a refused entry whose last good port is taken meanwhile is left out, not rendered twice', async (t) => {
  const s = await honestSite(t);
  // mem11211 reaches for slave3301's port while a new tag takes the port mem11211 left.
  await s.store.put(MEM, memcached('mem11211', 23351));
  await s.store.put('haproxy/memcached/mem11212', memcached('mem11212', 21211));
  const pass = await s.pass();
  t.ok(rendered(pass), 'the render goes through');
  const cfg = s.cfg();
  t.equal(binds(cfg, 23351), 1, 'port 23351 is bound once');
  t.equal(binds(cfg, 21211), 1, 'port 21211 is bound once');
  t.equal(listens(cfg, 'mem11212'), 1, 'the new tag serves the port it took');
  t.equal(listens(cfg, 'mem11211'), 0, 'mem11211 is left out: its last good value would collide');
  t.match(pass.badEntries, [{ key: `/${MEM}`, fallback: 'left-out' }]);
  haproxyAccepts(t, s.dest);
});

t.test("an entry named like another tag is refused, and that tag's failover still renders", async (t) => {
  const s = await honestSite(t);
  // A byte-for-byte copy of slave3301's entry under the memcached key.
  await s.store.put(MEM, slave('slave3301', '10.0.21.5', 23351));
  const copied = await s.pass();
  t.ok(rendered(copied), 'the render goes through');
  t.equal(listens(s.cfg(), 'slave3301'), 1, 'one listen slave3301');
  t.equal(binds(s.cfg(), 23351), 1, 'one bind on its port');
  t.match(copied.badEntries, [{ key: `/${MEM}`, fallback: 'last-good', message: `/${MEM}: entry: name "slave3301" is not the key's tag "mem11211" (an entry speaks only for its own key)` }]);
  // The real slave3301 fails over: the change must reach haproxy.cfg while the copy stays.
  await s.store.put(SLAVE, slave('slave3301', '10.0.21.7', 23351));
  const failover = await s.pass();
  t.ok(rendered(failover), 'the failover render goes through');
  t.match(section(s.cfg(), 'slave3301'), /server slave3301-mysql 10\.0\.21\.7:3301 /, 'slave3301 now points at the new host');
  t.equal(listens(s.cfg(), 'slave3301'), 1, 'still one listen slave3301');
  t.match(section(s.cfg(), 'mem11211'), /bind 0\.0\.0\.0:21211\n/, 'mem11211 renders its last good value');
  haproxyAccepts(t, s.dest);
});

t.test("an entry whose name is not its key's tag is refused", async (t) => {
  const s = site(t);
  await s.store.put(SLAVE, slave('slave3301', '10.0.21.5', 23351));
  await s.store.put('haproxy/mysqlslave/slave3302', slave('payments', '10.6.6.6', 23352));
  const pass = await s.pass();
  t.ok(rendered(pass), 'the render goes through');
  t.equal(listens(s.cfg(), 'payments'), 0, 'no listen under a name the key does not own');
  t.notMatch(s.cfg(), /10\.6\.6\.6/, "the entry's server is not rendered");
  t.equal(listens(s.cfg(), 'slave3301'), 1, 'the other entry renders');
  t.match(pass.badEntries, [{ key: '/haproxy/mysqlslave/slave3302', fallback: 'left-out', message: /name "payments" is not the key's tag "slave3302"/ }]);
});

t.test("galera reader ports and listen names are another entry's too", async (t) => {
  const s = site(t);
  await s.store.put(GALERA, galera('main', 13306, 13307));
  await s.store.put(MEM, memcached('mem11211', 21211));
  await s.store.put('haproxy/redis/cache', JSON.stringify({ name: 'cache', host: '10.0.22.7', port: 6380, proxyport: 11380, servers: [{ host: '10.0.22.7', port: 6380, weight: 100, role: 'active' }] }));
  t.ok((await s.pass()).ok, 'the honest render goes through');
  // A memcached entry binds the galera readers' port; a redis tag takes the name of the galera reader listen.
  await s.store.put(MEM, memcached('mem11211', 13307));
  await s.store.put('haproxy/redis/main-reader', JSON.stringify({ name: 'main-reader', host: '10.6.6.6', port: 6379, proxyport: 11381, servers: [{ host: '10.6.6.6', port: 6379, weight: 100, role: 'active' }] }));
  // And the galera entry itself moves its readers onto the redis proxyport.
  await s.store.put('haproxy/galera/other', galera('other', 13316, 11380));
  const pass = await s.pass();
  t.ok(rendered(pass), 'the render goes through');
  const cfg = s.cfg();
  t.equal(binds(cfg, 13307), 1, 'the reader port is bound once');
  t.match(section(cfg, 'main-reader'), /bind 0\.0\.0\.0:13307\n[^]*server main-galera-r0 10\.0\.23\.6:3306 /, 'the galera readers keep their listen');
  t.equal(listens(cfg, 'main-reader'), 1, 'one listen main-reader');
  t.notMatch(cfg, /10\.6\.6\.6/, "the redis intruder's server is not rendered");
  t.equal(binds(cfg, 11380), 1, 'the redis port is bound once');
  t.equal(listens(cfg, 'other-writer'), 0, 'the galera entry that takes a redis port is left out');
  t.same(
    pass.badEntries.map((b) => `${b.key} ${b.fallback}: ${b.message.replace(/^\S+ entry: /, '')}`).sort(),
    [
      '/haproxy/galera/other left-out: readerport 11380 is already served by /haproxy/redis/cache',
      '/haproxy/memcached/mem11211 last-good: proxyport 13307 is already served by /haproxy/galera/main',
      '/haproxy/redis/main-reader left-out: listen main-reader is already served by /haproxy/galera/main',
    ],
    'each intruder is refused, naming the key it collides with',
  );
  haproxyAccepts(t, s.dest);
});
