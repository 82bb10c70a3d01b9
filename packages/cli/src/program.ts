// Every bin's main: a commander program run in-process, argv (confd's one-dash spellings too) and
// two streams → an exit code.
import type { Command } from 'commander';
import { flagNames, normalizeSingleDash } from './argv.js';
import { EXIT, exitFor, processIO, type CommandIO } from './common.js';
import { usageLine } from './usage-error.js';

/**
 * Parse argv into the program and run the action it picks. Everything commander writes goes to
 * io; commander's own errors and an action's throw become the exit code (64 for usage).
 * Undefined: the action ran through.
 */
export async function parseArgv(bin: string, program: Command, argv: string[], io: CommandIO): Promise<number | undefined> {
  // commander's own error line is replaced by usageLine's (one line, a suggestion, no help dump).
  const output = { writeOut: (t: string) => io.stdout.write(t), writeErr: (t: string) => io.stderr.write(t), outputError: () => {} };
  for (const c of [program, ...program.commands]) c.exitOverride().configureOutput(output);
  const { longNames, booleans } = flagNames(program);
  try {
    await program.parseAsync(normalizeSingleDash(argv, longNames, booleans), { from: 'user' });
    return undefined;
  } catch (err) {
    const { code, message } = err as { code?: unknown; message?: string };
    if (typeof code === 'string' && code.startsWith('commander.') && code !== 'commander.helpDisplayed' && code !== 'commander.version') {
      io.stderr.write(usageLine({ bin, program, argv, longNames }, message ?? '', code));
    }
    return exitFor(bin, err, io.stderr);
  }
}

/** What a program does once its flags are parsed: the parsed command and where to write → the exit code. */
export type ProgramAction = (cmd: Command, io: CommandIO) => Promise<number>;

/** A program with one action (the checkers, haproxy-reload): argv → the exit code the action returns. */
export async function runProgram(bin: string, program: Command, action: ProgramAction, argv: string[], io: CommandIO = processIO()): Promise<number> {
  let code: number = EXIT.OK;
  program.action(async () => {
    code = await action(program, io);
  });
  return (await parseArgv(bin, program, argv, io)) ?? code;
}
