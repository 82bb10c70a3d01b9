// What a rendered file may say, read as HAProxy reads it: a directive that loads code or runs a
// program is refused however it is spelled, unless the instance allows it by name; a bundle's file
// makes HAProxy read only the environment variables the instance allows.
import t from 'tap';
import { configLines, outputRules, renderedProblem } from '@confd-haproxy/resource';

const r = { name: 'conf.d/haproxy.toml', dest: '/etc/haproxy/haproxy.cfg' };
const bundle = outputRules({ allowCommands: [], allowDests: [] }, true)!;
const problem = (text: string, rules = bundle) => renderedProblem(r, text, rules)?.message;

t.test('HAProxy words: quotes and escapes resolved, comments dropped, variables noted', async (t) => {
  t.match(configLines('global\n  lua-load /x.lua # comment\n\n# only a comment\n'), [
    { line: 1, words: ['global'] },
    { line: 2, words: ['lua-load', '/x.lua'], expanded: [false, false] },
  ]);
  t.same(configLines('"lua-load" \'/a b\' lua""-load \\x6cua-load').map((l) => l.words), [['lua-load', '/a b', 'lua-load', 'lua-load']]);
  t.same(configLines('log "${SYSLOG-127.0.0.1}:514" \'${NOT}\' $ALSO_NOT "\\$escaped" "$HOME"')[0]!.variables, ['SYSLOG', 'HOME'], 'only inside double quotes, unescaped');
  t.same(configLines('"${K}" x')[0]!.expanded, [true, false]);
  t.same(configLines('maxconn 10\rlua-load /x.lua').map((l) => [l.line, l.words[0]]), [[1, 'maxconn'], [1, 'lua-load']], 'what follows a CR is read too');
  t.same(configLines('\v\flua-load\f/x.lua')[0]!.words, ['lua-load', '/x.lua'], 'every space character separates');
});

t.test('a directive that loads code or runs a program is refused however it is spelled, naming the resource, file, line and directive', async (t) => {
  for (const [text, name] of [
    ['global\n    lua-load /etc/haproxy/evil.lua', 'lua-load'],
    ['global\n\t"lua-load" /x.lua', 'lua-load'],
    ["global\n    'lua-load' /x.lua", 'lua-load'],
    ['global\n    lua""-load /x.lua', 'lua-load'],
    ['global\n    \\x6cua-load /x.lua', 'lua-load'],
    ['global\n    lua-load-per-thread /x.lua', 'lua-load-per-thread'],
    ['global\n    lua-prepend-path /tmp/?.lua', 'lua-prepend-path'],
    ['global\n    external-check', 'external-check'],
    ['global\n    insecure-fork-wanted', 'insecure-fork-wanted'],
    ['global\n    insecure-setuid-wanted', 'insecure-setuid-wanted'],
    ['global\n    program evil\n    command /bin/sh -c id', 'program'],
    ['global\n    ssl-engine rdrand', 'ssl-engine'],
    ['global\n    ssl-provider legacy', 'ssl-provider'],
    ['global\n    ssl-provider-path /tmp', 'ssl-provider-path'],
    ['global\n    setenv OPENSSL_CONF /tmp/evil.cnf', 'setenv'],
    ['global\n    presetenv X y', 'presetenv'],
    ['global\n    resetenv', 'resetenv'],
    ['global\n    unsetenv PATH', 'unsetenv'],
    ['backend b\n    option external-check\n    external-check command /bin/true', 'option external-check'],
    ['frontend f\n    filter opentracing config /tmp/ot.cfg', 'filter opentracing'],
    ['global\n    maxconn 10\rlua-load /x.lua', 'lua-load'],
  ] as const) {
    t.match(problem(text), new RegExp(`^conf\\.d/haproxy\\.toml: /etc/haproxy/haproxy\\.cfg line 2: ${name} .*--allow-directive "${name}"`), `${JSON.stringify(text)}: ${name}`);
  }
  t.match(problem('global\n    setenv K lua-load\n    "${K}" /x.lua'), /line 3: its keyword comes from an environment variable \("\$K"\): write keywords out/, 'a keyword from a variable is refused whatever it holds');
  t.match(problem('backend b\n    option "${X}"'), /line 2: its keyword comes from an environment variable/);
  t.match(renderedProblem(r, 'global\n    lua-load /x.lua', bundle), { code: 'RESOURCE_NOT_ALLOWED' });
});

t.test('what a directive only mentions, disables or comments out is not refused', async (t) => {
  t.equal(problem('global\n    # lua-load /x.lua\n    no insecure-fork-wanted\n    no option external-check\n    stats socket /run/haproxy/admin.sock\n    tune.lua.maxmem 10\nlisten x\n    bind :80 # lua-load\n    http-request set-var(txn.x) str("lua-load")\n    server s 10.0.0.1:80 check'), undefined);
  t.equal(problem('backend b\n    option httpchk\n    filter compression'), undefined);
});

t.test('the instance allows a directive by name (--allow-directive)', async (t) => {
  const rules = outputRules({ allowCommands: [], allowDests: [], allowDirectives: ['lua-load'] }, true)!;
  t.equal(problem('global\n    lua-load /etc/haproxy/ours.lua', rules), undefined);
  t.match(problem('global\n    lua-load /etc/haproxy/ours.lua\n    lua-prepend-path /tmp/?.lua', rules), /line 3: lua-prepend-path/);
});

t.test("a bundle's file makes HAProxy read only the environment variables the instance allows", async (t) => {
  const rules = outputRules({ allowCommands: [], allowDests: [], allowEnv: ['HAPROXY_STATS_SOCKET'] }, true)!;
  t.match(problem('listen x\n    server s "${CONSUL_HTTP_TOKEN}":80', rules), /line 2: "\$\{CONSUL_HTTP_TOKEN\}" makes HAProxy read the environment variable CONSUL_HTTP_TOKEN, which a bundle may read only with --allow-env CONSUL_HTTP_TOKEN/);
  t.match(problem('global\n    .notice "$CONSUL_HTTP_TOKEN"', rules), /CONSUL_HTTP_TOKEN/);
  t.equal(problem('global\n    stats socket "${HAPROXY_STATS_SOCKET}" level admin\n    .notice "${.FILE}:${.LINE} ${HAPROXY_LOCALPEER}"\n    log-format \'${NOT_EXPANDED}\'', rules), undefined, 'allowed names, HAProxy\'s own, and single quotes are fine');
});

t.test("the operator's own confdir: no rules without a policy; directives once any --allow-* flag is given; any environment variable", async (t) => {
  t.equal(outputRules(undefined, false), undefined);
  t.equal(outputRules({ allowCommands: [], allowDests: [] }, false), undefined, 'an empty policy');
  const rules = outputRules({ allowCommands: ['systemctl reload haproxy'], allowDests: [] }, false)!;
  t.match(problem('program x\n    command /bin/sh', rules), /line 1: program runs a program/);
  t.equal(problem('global\n    stats socket "${ANY_NAME}"', rules), undefined);
});
