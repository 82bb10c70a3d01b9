// confd-haproxy's settings: read and checked once, then frozen; a bad flag is a UsageError naming it,
// before anything runs (and on SIGHUP, before the previous settings are dropped).
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { buildProgram, type Subcommand } from '../dist/commands/confd-haproxy/program.js';
import { readSettings } from '../dist/commands/confd-haproxy/settings.js';
import type { Mode } from '../dist/commands/confd-haproxy/flags.js';

/** The command commander hands a subcommand for argv (nothing runs). */
async function parsed(argv: string[]): Promise<{ cmd: Command; name: Subcommand }> {
  let got: { cmd: Command; name: Subcommand } | undefined;
  await buildProgram(async (cmd, name) => {
    got = { cmd, name };
  }).parseAsync(argv, { from: 'user' });
  return got!;
}

async function settingsOf(t: Test, argv: string[]) {
  const dir = t.testdir({ 'kv.json': '{}' });
  const { cmd, name } = await parsed([...argv, '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', join(dir, 'state')]);
  return readSettings(cmd, name as Mode, new PassThrough());
}

t.test('settings are frozen: the flags, the renderer options and the bundle settings', async (t) => {
  const s = await settingsOf(t, ['--config-from-store', '--diffs-before-sync', '2', '--status-ttl', '20s', '--instance-label', 'zone=a']);
  t.ok(Object.isFrozen(s), 'settings');
  t.ok(Object.isFrozen(s.flags), 'flags');
  t.ok(Object.isFrozen(s.base), 'renderer options');
  t.ok(Object.isFrozen(s.fleet), 'bundle settings');
  t.match(s.fleet, { diffsBeforeSync: 2, statusTtlMs: 20_000, labels: ['zone=a'] });
  t.throws(() => {
    (s.base as { confdir: string }).confdir = '/elsewhere';
  }, TypeError);
});

t.test('the bundle flags are checked when the settings are read, before the run starts', async (t) => {
  await t.rejects(settingsOf(t, ['--config-from-store', '--diffs-before-sync', '0']), { name: 'UsageError', message: /--diffs-before-sync: "0"/ });
  await t.rejects(settingsOf(t, ['--config-from-store', '--status-ttl', 'soon']), { name: 'UsageError', message: /--status-ttl/ });
  await t.rejects(settingsOf(t, ['--config-from-store', '--instance-label', 'no-equals']), { name: 'UsageError', message: /--instance-label/ });
});

t.test('status --wait-converged is read once, as a duration', async (t) => {
  t.equal((await settingsOf(t, ['status', '--fleet', '--wait-converged', '1m30s'])).waitConvergedMs, 90_000);
  t.equal((await settingsOf(t, ['status', '--fleet'])).waitConvergedMs, 0);
  await t.rejects(settingsOf(t, ['status', '--wait-converged', 'later']), { name: 'UsageError', message: /--wait-converged/ });
});

t.test('a plain run has no bundle settings', async (t) => {
  t.equal((await settingsOf(t, ['--onetime'])).fleet, undefined);
});
