import t from 'tap';
import type { Test } from 'tap';
import { symlinkSync, writeFileSync } from 'node:fs';
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

t.test('a minimal resource gets confd defaults, and files load in name order', async (t) => {
  const dir = confdir(t, { 'b.toml': ok('out/b.cfg'), 'a.toml': ok('out/a.cfg'), 'notes.txt': 'not a resource' });
  const rs = await loadResources({ confdir: dir });
  t.same(rs.map((r) => r.name), ['conf.d/a.toml', 'conf.d/b.toml']);
  t.match(rs[0], { prefix: '', mode: 0o644, uid: process.getuid!(), gid: process.getgid!() });
  t.notOk('checkCmd' in rs[0]! || 'reloadCmd' in rs[0]! || 'commandTimeoutMs' in rs[0]!, 'no commands, no timeout unless set');
});

t.test('an absolute dest is kept, uid/gid and an integer command_timeout are read', async (t) => {
  const dir = confdir(t, {});
  const dest = join(dir, 'out', 'abs.cfg');
  writeFileSync(join(dir, 'conf.d/x.toml'), toml(`src = "haproxy.cfg.hbs"\ndest = "${dest}"\nkeys = ["/a"]\nuid = 65534\ngid = 65534\ncommand_timeout = 2\nmode = "640"`));
  const [r] = await loadResources({ confdir: dir, prefix: 'eu/' });
  t.match(r, { dest, uid: 65534, gid: 65534, commandTimeoutMs: 2000, mode: 0o640, prefix: '/eu' });
});

t.test('command_timeout takes the same Go durations as the flags (1m30s), and zero is refused', async (t) => {
  const dir = confdir(t, { 'x.toml': toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\ncommand_timeout = "1m30s"') });
  const [r] = await loadResources({ confdir: dir });
  t.equal(r?.commandTimeoutMs, 90_000);
  const zero = confdir(t, { 'x.toml': toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\ncommand_timeout = "0s"') });
  await t.rejects(loadResources({ confdir: zero }), /command_timeout must be above 0/);
});

t.test('a resource may read catalog services instead of or beside keys, each written as consul-template does', async (t) => {
  const dir = confdir(t, {
    'svc.toml': toml('src = "haproxy.cfg.hbs"\ndest = "out/svc.cfg"\nservices = ["web", " primary.db@dc2 ", "web"]'),
    'both.toml': toml('src = "haproxy.cfg.hbs"\ndest = "out/both.cfg"\nkeys = ["/haproxy"]\nservices = ["api"]'),
  });
  const [both, svc] = await loadResources({ confdir: dir });
  t.same(svc!.keys, [], 'no keys needed');
  t.same(svc!.services, ['web', 'primary.db@dc2'], 'canonical and distinct');
  t.same(both!.keys, ['/haproxy']);
  t.same(both!.services, ['api']);
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
  ['an unknown table', `${ok('out/x')}[tempalte]\nsrc = "y"\n`, /conf\.d\/bad\.toml: unknown table \[tempalte\]/],
  ['a missing [template] table', 'src = "haproxy.cfg.hbs"\n', /conf\.d\/bad\.toml: unknown top-level key src/],
  ['a mode that is not a string', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\nmode = 644'), /\[template\]\.mode "644" is not an octal file mode/],
  ['a negative uid', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\nuid = -1'), /conf\.d\/bad\.toml: \[template\]\.uid must be a non-negative integer/],
  ['a dest that is a directory', toml('src = "haproxy.cfg.hbs"\ndest = "out"\nkeys = ["/a"]'), /conf\.d\/bad\.toml: \[template\]\.dest "out" is a directory/],
  ['a check_cmd that is not a string', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nkeys = ["/a"]\ncheck_cmd = ["haproxy", "-c"]'), /conf\.d\/bad\.toml: \[template\]\.check_cmd must be a string/],
  ['a services entry that is not a service query', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nservices = ["web", "we b"]'), /\[template\]\.services entry "we b" is not a service/],
  ['services that are not strings', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nservices = "web"'), /\[template\]\.services must be an array of strings/],
  ['neither keys nor services', toml('src = "haproxy.cfg.hbs"\ndest = "out/x"\nservices = []'), /\[template\]\.keys must be a non-empty array .*unless services is given/],
  ['a dest with a command substitution', toml('src = "haproxy.cfg.hbs"\ndest = "out/h$(id>PWNED).cfg"\nkeys = ["/a"]'), /conf\.d\/bad\.toml: \[template\]\.dest "out\/h\$\(id>PWNED\)\.cfg" holds "\$" "\(" ">" "\)": a dest may hold only letters, digits and _ @ % \+ = : , \. \/ -/],
  ['a dest with a space, a quote or a backtick', toml(`src = "haproxy.cfg.hbs"\ndest = 'out/a b"\`c'\nkeys = ["/a"]`), /\[template\]\.dest "out\/a b\\"`c" holds " " "\\"" "`"/],
  ['a dest with a newline', toml('src = "haproxy.cfg.hbs"\ndest = "out/a\\nb"\nkeys = ["/a"]'), /\[template\]\.dest "out\/a\\nb" holds "\\n"/],
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

t.test('one dest reached through a symlinked directory is still one dest', async (t) => {
  const dir = confdir(t, { 'a.toml': ok('out/haproxy.cfg'), 'b.toml': ok('link/haproxy.cfg') });
  symlinkSync(join(dir, 'out'), join(dir, 'link'));
  await t.rejects(loadResources({ confdir: dir }), { code: 'RESOURCE_DUPLICATE_DEST', message: /conf\.d\/a\.toml and conf\.d\/b\.toml both write/ });
});

t.test('every broken file is reported, not just the first', async (t) => {
  const dir = confdir(t, { 'a.toml': toml('dest = "out/a"\nkeys = ["/a"]'), 'b.toml': toml('src = "haproxy.cfg.hbs"\nkeys = ["/a"]') });
  const err = await loadResources({ confdir: dir }).catch((e: Error) => e);
  t.match(err, { code: 'RESOURCE_INVALID', message: /conf\.d\/a\.toml: \[template\]\.src is required\nconf\.d\/b\.toml: \[template\]\.dest is required/ });
  t.equal((err as Error & { cause: AggregateError }).cause.errors.length, 2, 'each problem is also kept as its own error');
});
