import t from 'tap';
import { commandAllowed, commandMode, invocation, patternProblem, substituteSrc } from '@confd-haproxy/resource';

const SRC = '/etc/haproxy/.haproxy.cfg.0123456789ab';

t.test('operator-written commands keep the shell; a bundle\'s, and any while --allow-command is set, run as argv', async (t) => {
  t.equal(commandMode({ fromBundle: false, allowCommands: [] }), 'shell');
  t.equal(commandMode({ fromBundle: true, allowCommands: [] }), 'argv');
  t.equal(commandMode({ fromBundle: false, allowCommands: ['systemctl reload haproxy'] }), 'argv');
});

t.test('as argv, {{.src}} becomes one argument whatever it holds, and quotes only group words', async (t) => {
  const odd = `/tmp/a b/'q' "dq" $(id)/.x.cfg.00`;
  t.match(invocation('/usr/sbin/haproxy -c -f "{{.src}}"', 'argv', odd), { argv: ['/usr/sbin/haproxy', '-c', '-f', odd] });
  t.same(invocation('/usr/sbin/haproxy -c -f {{ .src }}', 'argv', odd), invocation('/usr/sbin/haproxy -c -f "{{.src}}"', 'argv', odd), 'however {{.src}} is spelt or quoted');
  t.same(invocation("grep -q 'listen app' {{.src}}", 'argv', SRC), { command: `grep -q 'listen app' ${SRC}`, argv: ['grep', '-q', 'listen app', SRC] });
  t.same(invocation('x --config={{.src}}', 'argv', SRC), { command: `x --config=${SRC}`, argv: ['x', `--config=${SRC}`] }, 'inside a word too');
  t.same(invocation('systemctl reload haproxy', 'argv'), { command: 'systemctl reload haproxy', argv: ['systemctl', 'reload', 'haproxy'] });
});

t.test('as argv, anything but plain words is refused, saying what it is', async (t) => {
  const cases: [string, RegExp][] = [
    ['a && b', /shell operator "&&"/],
    ['a; b', /shell operator ";"/],
    ['a | b', /shell operator "\|"/],
    ['a > /etc/passwd', /shell operator ">"/],
    ['a $HOME', /variable or command substitution "\$HOME"/],
    ['a "$(id)"', /variable or command substitution/],
    ['a `id`', /command substitution "`"/],
    ['a *.cfg', /glob "\*\.cfg"/],
    ['a # comment', /comment "# comment"/],
    ['a\nb', /control character "\\n"/],
    ['', /no command/],
  ];
  for (const [command, problem] of cases) t.match(invocation(command, 'argv', SRC), { problem }, JSON.stringify(command));
  t.same(invocation("a '$HOME' '*'", 'argv'), { command: "a '$HOME' '*'", argv: ['a', '$HOME', '*'] }, 'single quotes make them words');
});

t.test('through the shell, {{.src}} is single-quoted and nothing is refused (confd compatibility)', async (t) => {
  t.equal(substituteSrc('haproxy -c -f {{ .src }}', "/a b/it's"), `haproxy -c -f '/a b/it'\\''s'`);
  t.same(invocation('a && b {{.src}}', 'shell', '/x'), { command: "a && b '/x'" });
});

t.test('a pattern matches word by word; {{.src}} in it stands for the stage path', async (t) => {
  t.ok(commandAllowed('/usr/sbin/haproxy -c -f {{.src}}', ['/usr/sbin/haproxy -c -f {{.src}}'], SRC));
  t.ok(commandAllowed('/usr/sbin/haproxy -c -f "{{.src}}"', ['/usr/sbin/haproxy -c -f {{ .src }}'], SRC), 'quotes and spelling do not matter');
  t.ok(commandAllowed('/usr/sbin/haproxy  -c   -f {{.src}}', ['/usr/sbin/haproxy -c -f *'], SRC), 'a glob word matches the plain stage path');
  t.ok(commandAllowed('haproxy-reload --master-socket /run/haproxy-1.sock', ['haproxy-reload --master-socket /run/haproxy-?.sock']));
  t.notOk(commandAllowed('/usr/sbin/haproxy -c -f /etc/passwd', ['/usr/sbin/haproxy -c -f {{.src}}'], SRC), '{{.src}} is the stage path only');
  t.notOk(commandAllowed('/usr/sbin/haproxy -c -f {{.src}}', ['/usr/sbin/haproxy -c -f *'], '/tmp/a b/.x.cfg.00'), 'a glob word never matches a stage path with a space');
  t.ok(commandAllowed('/usr/sbin/haproxy -c -f {{.src}}', ['/usr/sbin/haproxy -c -f {{.src}}'], '/tmp/a b/.x.cfg.00'), 'but {{.src}} does');
  t.ok(commandAllowed("a '*'", ["a '*'"]), 'a quoted * in a pattern is a literal word');
  t.notOk(commandAllowed('a x', ["a '*'"]));
});

t.test('a glob word never matches a space, a quote or shell syntax, and never more than one word', async (t) => {
  const allow = ['/usr/sbin/haproxy -c -f *'];
  for (const command of [
    '/usr/sbin/haproxy -c -f {{.src}} -d',
    '/usr/sbin/haproxy -c -f "{{.src}} -d"',
    `/usr/sbin/haproxy -c -f 'a"b'`,
    `/usr/sbin/haproxy -c -f "a'b"`,
    '/usr/sbin/haproxy -c -f "a;b"',
    '/usr/sbin/haproxy -c -f "a$b"',
    "/usr/sbin/haproxy -c -f 'a`b'",
    '/usr/sbin/haproxy -c -f "a\\\\b"',
    '/usr/sbin/haproxy -c -f "a\tb"',
    '/usr/sbin/haproxy -c -f ~root/x',
    '/usr/sbin/haproxy -c',
  ]) {
    t.notOk(commandAllowed(command, allow, SRC), JSON.stringify(command));
  }
});

t.test('a pattern that is not words and globs is named', async (t) => {
  t.equal(patternProblem('/usr/sbin/haproxy -c -f *'), undefined);
  t.equal(patternProblem("/bin/sh -c 'echo $X'"), undefined, 'a single-quoted $ is a literal');
  t.match(patternProblem('systemctl reload haproxy; true'), /^"systemctl reload haproxy; true" is not plain words and globs \(shell operator ";"\)$/);
  t.match(patternProblem('x $HOME'), /variable or command substitution "\$HOME"/);
});
