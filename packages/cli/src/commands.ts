// The list of commands is package.json's `bin`, and nothing else: each name there has its committed
// entry point bin/<name>.js (a test checks it) and its program commands/<name>.ts. The Dockerfile,
// the bundle and the tests read the list from there.
import { readFileSync } from 'node:fs';
import type { CommandIO } from './common.js';

/** A command's program: argv and the streams it writes to → its exit code; importing it runs nothing. */
export type CommandMain = (argv: string[], io?: CommandIO) => Promise<number>;

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> };

/** Every command the package installs, in package.json's order. */
export const COMMANDS: readonly string[] = Object.keys(manifest.bin);

/** The program of one command, to run in-process (tests). */
export async function commandMain(name: string): Promise<CommandMain> {
  if (!COMMANDS.includes(name)) throw new Error(`${name} is not a command of this package (${COMMANDS.join(', ')})`);
  return ((await import(`./commands/${name}.js`)) as { main: CommandMain }).main;
}
