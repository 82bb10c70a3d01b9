import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { loadResources } from '@confd-haproxy/resource';

const toml = (fields: string) => `[template]\n${fields}\n`;
const ok = (dest: string) => toml(`src = "haproxy.cfg.hbs"\ndest = "${dest}"\nkeys = ["/haproxy/mysqlslave"]`);

function confdir(t: Test, files: Record<string, string>) {
  return t.testdir({ 'conf.d': files, templates: { 'haproxy.cfg.hbs': 'x' }, out: {} });
}

t.test('a valid resource loads with confd defaults', async (t) => {
  const dir = confdir(t, { 'haproxy.toml': toml('src = "haproxy.cfg.hbs"\ndest = "out/haproxy.cfg"\nkeys = ["/haproxy/mysqlslave", "/haproxy/memcached"]\nprefix = "prod"\nmode = "0600"\ncheck_cmd = "haproxy -c -f {{.src}}"\nreload_cmd = "true"\ncommand_timeout = "5s"') });
  const [r] = await loadResources({ confdir: dir, prefix: '/eu' });
  t.match(r, {
    name: 'conf.d/haproxy.toml',
    src: join(dir, 'templates/haproxy.cfg.hbs'),
    dest: join(dir, 'out/haproxy.cfg'),
    keys: ['/haproxy/mysqlslave', '/haproxy/memcached'],
    prefix: '/eu/prod',
    mode: 0o600,
    checkCmd: 'haproxy -c -f {{.src}}',
    reloadCmd: 'true',
    commandTimeoutMs: 5000,
  });
});

const cases: [string, string, RegExp][] = [
  ['a missing src', toml('dest = "out/x"\nkeys = ["/a"]'), /conf\.d\/bad\.toml: \[template\]\.src is required/],
  ['a missing dest', toml('src = "haproxy.cfg.hbs"\nkeys = ["/a"]'), /conf\.d\/bad\.toml: \[template\]\.dest is required/],
  ['a src that does not exist', toml('src = "nope.hbs"\ndest = "out/x"\nkeys = ["/a"]'), /\[template\]\.src "nope\.hbs" does not exist/],
  ['a bad mode', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\nmode = "999"'), /\[template\]\.mode "999" is not an octal file mode/],
  ['an unknown field', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\nreload_command = "x"'), /\[template\]\.reload_command is not a known field/],
  ['no keys', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"'), /\[template\]\.keys must be a non-empty array/],
  ['a dest directory that does not exist', toml('src = "haproxy.cfg.hbs"\ndest = "/nonexistent-dir/haproxy.cfg"\nkeys = ["/a"]'), /directory \/nonexistent-dir does not exist/],
  ['a TOML syntax error', '[template]\nsrc = "haproxy.cfg.hbs\ndest = "x"\n', /conf\.d\/bad\.toml: TOML syntax error at line 2 column \d+/],
  ['a bad command_timeout', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\ncommand_timeout = "soon"'), /command_timeout "soon" is not a duration/],
];
for (const [what, text, message] of cases) {
  t.test(`${what} is an error naming the file and field`, async (t) => {
    const dir = confdir(t, { 'bad.toml': text });
    await t.rejects(loadResources({ confdir: dir }), { code: 'RESOURCE_INVALID', message });
  });
}

t.test('two resources writing the same dest are refused, naming both files', async (t) => {
  const dir = confdir(t, { 'haproxy_mysql.toml': ok('out/haproxy.cfg'), 'haproxy_memcached.toml': ok('out/../out/haproxy.cfg') });
  await t.rejects(loadResources({ confdir: dir }), {
    code: 'RESOURCE_DUPLICATE_DEST',
    message: /conf\.d\/haproxy_memcached\.toml and conf\.d\/haproxy_mysql\.toml both write .*out\/haproxy\.cfg/,
  });
});

t.test('every broken file is reported, not just the first', async (t) => {
  const dir = confdir(t, { 'a.toml': toml('dest = "out/a"\nkeys = ["/a"]'), 'b.toml': toml('src = "haproxy.cfg.hbs"\nkeys = ["/a"]') });
  const err = await loadResources({ confdir: dir }).catch((e: Error) => e);
  t.match(err, { message: /conf\.d\/a\.toml: \[template\]\.src is required\nconf\.d\/b\.toml: \[template\]\.dest is required/ });
});
