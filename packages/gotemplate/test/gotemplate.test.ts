import t from 'tap';
import type { Test } from 'tap';
import { compileGoTemplate, GoMap, GoOpaque, GoSlice, GoStruct, GoTemplateError, INTERFACE, stringSlice, type GoFunc, type GoValue } from '@confd-haproxy/gotemplate';

const f = (params: string[], call: (a: GoValue[]) => GoValue, variadic = false): GoFunc => ({ params, result: INTERFACE, call, variadic });
const FUNCS = new Map<string, GoFunc>([
  ['list', f(['string'], (a) => stringSlice(a as string[]), true)],
  ['obj', f([], () => new GoMap(INTERFACE, new Map<string, GoValue>([['b', 2n], ['a', 'x'], ['10', 1.5], ['9', null]])))],
  ['srv', f([], () => new GoSlice('[]*net.SRV', '*net.SRV', [new GoStruct('net.SRV', [['Target', 'a.'], ['Port', 80n]], true)]))],
  ['now', f([], () => new GoOpaque('time.Time', new Date()))],
]);

function render(text: string, dot?: GoValue): string {
  return compileGoTemplate(text, { file: 't.tmpl', name: 't.tmpl', funcNames: FUNCS.keys() }).render({ funcs: FUNCS, ...(dot === undefined ? {} : { dot }) });
}

function refusal(t: Test, text: string, code: string, where: RegExp) {
  let err: unknown;
  try {
    render(text);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof GoTemplateError, `${JSON.stringify(text)} is refused`);
  t.equal((err as GoTemplateError).code, code);
  t.match((err as GoTemplateError).message, where);
}

t.test("Go's actions, pipelines and variables render as Go renders them", async (t) => {
  t.equal(render('{{$x := 1}}{{$x}} {{$x = 2}}{{$x}} {{if true}}{{$x = 3}}{{$y := 9}}{{$y}}{{end}} {{$x}}'), '1 2 9 3');
  t.equal(render('{{range $i, $v := list "a" "b"}}{{$i}}={{$v}};{{end}}'), '0=a;1=b;');
  t.equal(render('{{range list}}x{{else}}empty{{end}}'), 'empty');
  t.equal(render('{{range $i, $v := list "a" "b" "c" "d"}}{{if eq $i 2}}{{break}}{{end}}{{if eq $i 0}}{{continue}}{{end}}{{$v}}{{end}}'), 'b');
  t.equal(render('{{if false}}a{{else if eq 1 2}}b{{else}}c{{end}}'), 'c');
  t.equal(render('{{with list "q"}}{{index . 0}}{{end}}{{with ""}}x{{else}}none{{end}}'), 'qnone');
  t.equal(render('{{define "d"}}[{{.}}]{{end}}{{template "d" 5}}{{block "b" "z"}}<{{.}}>{{end}}'), '[5]<z>');
  t.equal(render('a  {{- 1 -}}  b {{/* gone */}}c\n{{- "d"}}'), 'a1b cd');
  t.equal(render('{{"x" | printf "%s-%s" "y"}}'), 'y-x');
});

t.test('maps iterate in key order and print as Go prints them', async (t) => {
  t.equal(render('{{range $k, $v := obj}}{{$k}}:{{$v}} {{end}}'), '10:1.5 9:<no value> a:x b:2 ');
  t.equal(render('{{obj}}'), 'map[10:1.5 9:<nil> a:x b:2]');
  t.equal(render('{{(obj).missing}}|{{index obj "missing"}}|{{print (obj).missing}}'), '<no value>|<no value>|<nil>');
});

const FMT: readonly [string, string][] = [
  ['{{1e6}} {{1e21}} {{0.000001}} {{123456789.0}} {{3.0}}', '1e+06 1e+21 1e-06 1.23456789e+08 3'],
  ['{{printf "%.0f %.0f %.2f %5.1f|%-4d|%04d|%x|%q" 0.5 2.5 1.005 3.14159 7 7 255 "a\\"b"}}', '0 2 1.00   3.1|7   |0007|ff|"a\\"b"'],
  ['{{printf "%d %s" "x" 5}} {{printf "%d"}} {{printf "x" 1}}', '%!d(string=x) %!s(int=5) %!d(MISSING) x%!(EXTRA int=1)'],
  ['{{print 1 2 "a" "b" 3}}', '1 2ab3'],
];
t.test("Go's fmt: floats, ints, verbs, bad verbs", async (t) => {
  for (const [text, want] of FMT) t.equal(render(text), want, text);
});

t.test('what Go would render differently here is refused, naming file:line:column', async (t) => {
  refusal(t, 'ok\n  {{printf "%[1]v" 1}}', 'GOTEMPLATE_UNSUPPORTED', /^t\.tmpl:2:5: .*explicit argument indexes/);
  refusal(t, '{{now}}', 'GOTEMPLATE_UNSUPPORTED', /^t\.tmpl:1:3: printing a time\.Time/);
  refusal(t, '{{srv}}', 'GOTEMPLATE_UNSUPPORTED', /^t\.tmpl:1:3: printing a \*net\.SRV inside another value/);
  refusal(t, 'x\n{{index "abc" 1}}', 'GOTEMPLATE_UNSUPPORTED', /^t\.tmpl:2:3: index of a string/);
  refusal(t, 'x\n{{print 1i}}', 'GOTEMPLATE_UNSUPPORTED', /^t\.tmpl:2:9: the complex number 1i/);
  refusal(t, '{{print "\\xff"}}', 'GOTEMPLATE_UNSUPPORTED', /^t\.tmpl:1:9: the byte escape \\xff/);
  t.equal(render('{{range srv}}{{.}} {{.Target}}{{end}}'), '{a. 80} a.', 'a pointer printed on its own is its struct, as in Go');
});

t.test("Go's errors: syntax at parse time, execution at the node, both with file:line:column", async (t) => {
  refusal(t, '{{if}}x{{end}}', 'GOTEMPLATE_SYNTAX', /^t\.tmpl:1:5: missing value for if/);
  refusal(t, 'a\n{{nosuch 1}}', 'GOTEMPLATE_SYNTAX', /^t\.tmpl:2:3: function "nosuch" not defined/);
  refusal(t, '{{range 3}}x{{end}}', 'GOTEMPLATE_EXEC', /^t\.tmpl:1:9: .*range can't iterate over 3/);
  refusal(t, '{{template "nope"}}', 'GOTEMPLATE_EXEC', /template "nope" not defined/);
  refusal(t, '{{$x}}', 'GOTEMPLATE_SYNTAX', /undefined variable "\$x"/);
  refusal(t, '{{len 3}}', 'GOTEMPLATE_EXEC', /error calling len: len of type int/);
  refusal(t, '{{"a" | printf "%s" | "b"}}', 'GOTEMPLATE_SYNTAX', /non executable command in pipeline stage 3/);
});

t.test('the output stops at its size limit', async (t) => {
  const tmpl = compileGoTemplate('{{range list "a" "b" "c"}}0123456789{{end}}', { file: 't.tmpl', name: 't.tmpl', funcNames: FUNCS.keys() });
  t.throws(() => tmpl.render({ funcs: FUNCS, maxChars: 25, tooLarge: () => new Error('too large') }), /too large/);
  t.equal(tmpl.render({ funcs: FUNCS, maxChars: 30 }).length, 30);
});
