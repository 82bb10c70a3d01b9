// A mistyped flag or subcommand costs the user one line: what was wrong, the nearest known name in
// the spelling they typed, and "see --help" — never the whole help text after an error.
import t from 'tap';
import { commandMain, type CommandMain as Main } from 'confd-haproxy';
import { closest } from '../dist/usage-error.js';
import { runInProcess } from '@confd-haproxy/testkit';

const checkmemcached = await commandMain('checkmemcached');
const confdHaproxy = await commandMain('confd-haproxy');

const run = runInProcess;

const ONE_LINE = (bin: string) => new RegExp(`^${bin}: [^\\n]+; see ${bin} --help\\n$`);

t.test('an unknown one-dash flag is one line with a one-dash suggestion, exit 64', async (t) => {
  const r = await run(confdHaproxy, ['-confidr', '/etc/confd-haproxy']);
  t.equal(r.code, 64);
  t.equal(r.err, "confd-haproxy: unknown option '-confidr' (did you mean -confdir?); see confd-haproxy --help\n");
  t.equal(r.out, '');
});

t.test('an unknown two-dash flag gets the same line in its own spelling', async (t) => {
  const r = await run(confdHaproxy, ['--confidr', '/etc/confd-haproxy']);
  t.equal(r.err, "confd-haproxy: unknown option '--confidr' (did you mean --confdir?); see confd-haproxy --help\n");
});

t.test('a mistyped subcommand is named as a command, with the nearest one', async (t) => {
  const r = await run(confdHaproxy, ['plann', '--backend', 'file']);
  t.equal(r.code, 64);
  t.match(r.err, ONE_LINE('confd-haproxy'));
  t.match(r.err, /unknown command 'plann' \(did you mean plan\?\)/);
  t.notMatch(r.err, /too many arguments/);
});

t.test("a subcommand's unknown flag suggests the subcommand's own flag", async (t) => {
  const r = await run(confdHaproxy, ['status', '--jsn']);
  t.match(r.err, /unknown option '--jsn' \(did you mean --json\?\)/);
  t.match(r.err, ONE_LINE('confd-haproxy'));
});

t.test('a switch given a value that is not true or false says so', async (t) => {
  const r = await run(confdHaproxy, ['-onetime=maybe']);
  t.equal(r.code, 64);
  t.match(r.err, /-onetime is a switch: it takes =true or =false, not "maybe"/);
});

t.test('a checker takes no words: a stray one is named, not counted', async (t) => {
  const r = await run(checkmemcached, ['-servr', '127.0.0.1:11211']);
  t.equal(r.err, "checkmemcached: unknown option '-servr' (did you mean -server?); see checkmemcached --help\n");
  const stray = await run(checkmemcached, ['--server', '127.0.0.1:11211', 'mem11211']);
  t.equal(stray.code, 64);
  t.match(stray.err, /unexpected argument 'mem11211'/);
  t.match(stray.err, ONE_LINE('checkmemcached'));
});

t.test('a word far from every name gets no suggestion', async (t) => {
  t.equal(closest('zzzzzz', ['confdir', 'onetime']), undefined);
  t.equal(closest('onetmie', ['confdir', 'onetime']), 'onetime');
  const r = await run(confdHaproxy, ['--zzzzzz']);
  t.equal(r.err, "confd-haproxy: unknown option '--zzzzzz'; see confd-haproxy --help\n");
});

t.test('--help still prints the help, to stdout, exit 0', async (t) => {
  const r = await run(confdHaproxy, ['--help']);
  t.equal(r.code, 0);
  t.match(r.out, /Usage: confd-haproxy/);
  t.equal(r.err, '');
});

t.test('--heartbeat takes a duration of at least 10ms or 0; anything else is one line naming the flag, exit 64', async (t) => {
  const args = ['--server', '127.0.0.1:11211', '--tag', 'mem11211', '--backend', 'file', '--file', `${t.testdir({})}/kv.json`];
  const fast = await run(checkmemcached, [...args, '--heartbeat', '5ms']);
  t.equal(fast.code, 64);
  t.match(fast.err, /--heartbeat: "5ms" is below 10ms \(0 turns the heartbeat off\)/);
  const word = await run(checkmemcached, [...args, '--heartbeat', 'often']);
  t.equal(word.code, 64);
  t.match(word.err, /--heartbeat: "often" is not a duration/);
  const budget = await run(checkmemcached, [...args, '--heartbeat-budget', '-1']);
  t.equal(budget.code, 64);
  t.match(budget.err, /--heartbeat-budget: "-1" is not a whole number/);
});
