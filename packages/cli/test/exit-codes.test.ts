// Every bin maps what it threw to the README's exit-code table through one function.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, signalExitCode } from '@confd-haproxy/base';
import { CheckerError } from '@confd-haproxy/checker';
import { FleetError } from '@confd-haproxy/fleet';
import { KVError } from '@confd-haproxy/kv';
import { GuardError } from '@confd-haproxy/renderer';
import { ResourceError } from '@confd-haproxy/resource';
import { TemplateError } from '@confd-haproxy/template';
import { EXIT, NoInputError, UsageError, exitFor } from 'confd-haproxy';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The codes in the README's "Exit codes" table, in order. */
function documentedCodes(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Exit codes'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| code |')));
  return [...table.matchAll(/^\| (\S+) \|/gm)].map((m) => m[1]!).filter((c) => c !== 'code');
}

/** exitFor with what it printed. */
function exit(err: unknown): { code: number; printed: string } {
  const out = new PassThrough();
  const code = exitFor('confd-haproxy', err, out);
  return { code, printed: String(out.read() ?? '') };
}

t.test('the exit codes the bins use are exactly the ones the README documents', async (t) => {
  const named = [...new Set([...Object.values(EXIT_CODES), ...Object.values(EXIT)])].sort((a, b) => a - b).map(String);
  t.same(documentedCodes(), [...named.filter((c) => Number(c) < 128), '128+n', ...named.filter((c) => Number(c) > 128)]);
  t.equal(signalExitCode(2), 130, 'a second SIGINT: 128+n');
});

t.test('bad input from any package exits 65, whichever bin meets it', async (t) => {
  const data = [
    new ResourceError('RESOURCE_INVALID', 'x'),
    new ResourceError('RESOURCE_DUPLICATE_DEST', 'x'),
    new ResourceError('RESOURCE_NOT_ALLOWED', 'x'),
    new TemplateError('TEMPLATE_SYNTAX', 'x'),
    new TemplateError('TEMPLATE_BAD_VALUE', 'x'),
    new KVError('KV_CORRUPT', 'x'),
    new KVError('KV_CONFIG', 'x'),
    new FleetError('FLEET_BAD_BUNDLE', 'x'),
    new FleetError('FLEET_BUNDLE_REFUSED', 'x'),
    new FleetError('FLEET_KEY', 'x'),
    new CheckerError('CHECKER_CONFIG', 'x'),
  ];
  for (const err of data) t.equal(exit(err).code, 65, err.code);
});

t.test('a job that failed exits 1', async (t) => {
  const failed = [
    new ResourceError('RESOURCE_RELOAD_FAILED', 'x'),
    new ResourceError('RESOURCE_CHECK_FAILED', 'x'),
    new ResourceError('RESOURCE_WRITE_FAILED', 'x'),
    new KVError('KV_UNREACHABLE', 'x'),
    new KVError('KV_FORBIDDEN', 'x'),
    new FleetError('FLEET_STATE', 'x'),
    new CheckerError('CHECKER_LOCKED', 'x'),
    new GuardError('x'),
    new Error('x'),
  ];
  for (const err of failed) t.equal(exit(err).code, 1, (err as { code?: string }).code ?? 'a plain Error');
});

t.test('usage and a missing input file have their own codes, and the message is printed once with the bin', async (t) => {
  t.same(exit(new UsageError('--interval: "x" is not a duration')), { code: 64, printed: 'confd-haproxy: --interval: "x" is not a duration\n' });
  t.same(exit(new NoInputError('--file: kv.json does not exist')), { code: 66, printed: 'confd-haproxy: --file: kv.json does not exist\n' });
});

t.test('commander\'s own outcomes: help and version exit 0, its usage errors 64, and it has printed them already', async (t) => {
  t.same(exit(Object.assign(new Error('(outputHelp)'), { code: 'commander.helpDisplayed' })), { code: 0, printed: '' });
  t.same(exit(Object.assign(new Error('0.1.0'), { code: 'commander.version' })), { code: 0, printed: '' });
  t.same(exit(Object.assign(new Error("error: unknown option '--nope'"), { code: 'commander.unknownOption' })), { code: 64, printed: '' });
});
