// The error model: an error's category alone decides the exit code, through one map.
import t from 'tap';
import { ConfdError, codedErrorClass, EXIT, EXIT_CODES, NoInputError, UsageError, categoryOf, exitCodeOf, exitCodeOfAll, isConfdError, isDataError, isUsageError, signalExitCode } from '@confd-haproxy/base';

t.test('each category exits with its code from the one map', async (t) => {
  t.equal(exitCodeOf(new ConfdError('X_BAD', 'data', 'bad')), 65);
  t.equal(exitCodeOf(new ConfdError('X_BROKE', 'failure', 'broke')), 1);
  t.equal(exitCodeOf(new UsageError('--flag: bad')), 64);
  t.equal(exitCodeOf(new NoInputError('kv.json: no such file')), 66);
});

t.test('anything thrown that is not ours is a failure: exit 1', async (t) => {
  t.equal(exitCodeOf(new Error('boom')), 1);
  t.equal(exitCodeOf('a string'), 1);
  t.equal(exitCodeOf(undefined), 1);
  t.equal(exitCodeOf(Object.assign(new Error('x'), { code: 'KV_CORRUPT' })), 1, 'a code alone, with no category, classifies nothing');
});

t.test('the guards recognise an error by its shape, so a second copy of the package still agrees', async (t) => {
  const foreign = Object.assign(new Error('bad template'), { code: 'TEMPLATE_SYNTAX', category: 'data' });
  t.ok(isConfdError(foreign));
  t.ok(isDataError(foreign));
  t.notOk(isUsageError(foreign));
  t.notOk(isConfdError(Object.assign(new Error('x'), { code: 'X', category: 'no-such-category' })), 'an unknown category is not ours');
  t.notOk(isConfdError({ code: 'X', category: 'data', message: 'not an Error' }), 'a plain object is not an error');
  t.equal(categoryOf(foreign), 'data');
});

t.test('a pass with errors exits 65 only when every error is bad input', async (t) => {
  const data = new ConfdError('X_BAD', 'data', 'bad');
  t.equal(exitCodeOfAll([]), 0);
  t.equal(exitCodeOfAll([data, data]), 65);
  t.equal(exitCodeOfAll([data, new Error('reload failed')]), 1);
});

t.test('the named exit codes are the map\'s codes', async (t) => {
  t.same(
    { ok: EXIT.OK, failure: EXIT.FAILED, pending: EXIT.PENDING, usage: EXIT.USAGE, data: EXIT.DATA, noinput: EXIT.NOINPUT },
    EXIT_CODES,
  );
  t.equal(signalExitCode(15), 143, 'SIGTERM twice: 128 + 15');
});

t.test('an error keeps its code, message, name and cause', async (t) => {
  const cause = new Error('ENOENT');
  const err = new UsageError('--file: cannot read x', { cause });
  t.equal(err.code, 'USAGE');
  t.equal(err.category, 'usage');
  t.equal(err.name, 'UsageError');
  t.equal(err.message, '--file: cannot read x');
  t.equal(err.cause, cause);
  t.ok(err instanceof Error);
});

t.test('a coded error class: its listed codes are bad input (exit 65), every other code a failure', async (t) => {
  class ShelfError extends codedErrorClass<'SHELF_BAD' | 'SHELF_FULL'>('ShelfError', ['SHELF_BAD']) {}
  const bad = new ShelfError('SHELF_BAD', 'shelf.toml: bad', { cause: 'why' });
  const full = new ShelfError('SHELF_FULL', 'the shelf is full');
  t.ok(bad instanceof ShelfError && bad instanceof ConfdError && bad instanceof Error);
  t.match(bad, { name: 'ShelfError', code: 'SHELF_BAD', category: 'data', message: 'shelf.toml: bad', cause: 'why' });
  t.match(full, { name: 'ShelfError', code: 'SHELF_FULL', category: 'failure' });
  t.equal(exitCodeOf(bad), 65);
  t.equal(exitCodeOf(full), 1);
  t.ok(isConfdError(full));
});
