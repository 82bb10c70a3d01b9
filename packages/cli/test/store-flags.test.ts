// The bins build their store flags from the store descriptors: every spelling the renderer, the
// checkers and confd used still works, and reaches the same option.
import t from 'tap';
import { Command } from 'commander';
import { addStoreFlags, storeFlagValues, storeOptionsFromFlags } from 'confd-haproxy';

const parse = (argv: string[]) => storeFlagValues(addStoreFlags(new Command('x').exitOverride()).parse(argv, { from: 'user' }).opts());

t.test("the renderer's and the checkers' spellings of one flag give the same value", async (t) => {
  t.same(parse(['--auth-token', 'a']), parse(['--token', 'a']));
  t.same(parse(['--username', 'u']), parse(['--etcd-username', 'u']));
  t.same(parse(['--consul', '10.0.0.1:8500']), parse(['--node', '10.0.0.1:8500']));
  t.same(parse(['--node', 'a:1,b:2', '--node', 'c:3']).node, ['a:1', 'b:2', 'c:3'], '--node repeats and splits at commas');
});

t.test('--etcd-password-file is read at the edge: its first line is the password', async (t) => {
  const dir = t.testdir({ pw: 'secret\nignored\n' });
  t.equal(parse(['--etcd-password-file', `${dir}/pw`]).password, 'secret');
});

t.test('each spelling reaches the backend that honours it', async (t) => {
  t.match(storeOptionsFromFlags(parse(['--token', 't', '--node', '10.0.0.1:8500']), {}), { backend: 'consul', token: 't', address: '10.0.0.1:8500' });
  t.match(storeOptionsFromFlags(parse(['--backend', 'etcd', '--etcd-username', 'u', '--password', 'p', '--node', 'h:2379'])), { backend: 'etcd', username: 'u', password: 'p', nodes: ['h:2379'] });
});

t.test('a flag the chosen backend does not take is refused, naming every spelling', async (t) => {
  t.throws(() => storeOptionsFromFlags(parse(['--backend', 'etcd', '--token', 't'])), { message: '--auth-token/--token: not used by --backend etcd; remove it or choose the backend that uses it' });
});
