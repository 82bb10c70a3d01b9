// A usage mistake gets one line: what was wrong, the closest known name in the spelling the user
// typed (one dash or two), and where the rest is. commander's own words are kept for everything
// else; its help text is never dumped after an error.
import { distance } from 'fastest-levenshtein';
import type { Command } from 'commander';

/** The known name nearest to `word`, when it is near enough to be a typo (commander's threshold: 40 % of the length). */
export function closest(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(word, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance > 0 && bestDistance <= Math.max(1, Math.floor(word.length * 0.4)) ? best : undefined;
}

const dashes = (flag: string) => (flag.startsWith('--') ? '--' : '-');

/** commander's "error: unknown option '--x'\n(Did you mean --y?)" → "unknown option '-x' (did you mean -y?)", in the user's spelling. */
function unknownOption(flag: string, longNames: ReadonlySet<string>, argv: readonly string[]): string {
  const name = flag.replace(/^--?/, '').split('=')[0]!;
  const typed = argv.find((a) => a.replace(/^--?/, '').split('=')[0] === name) ?? flag;
  const value = typed.includes('=') ? typed.slice(typed.indexOf('=') + 1) : undefined;
  if (longNames.has(name) && value !== undefined) return `${typed.split('=')[0]} is a switch: it takes =true or =false, not "${value}"`;
  const near = closest(name, longNames);
  return `unknown option '${typed.split('=')[0]}'${near ? ` (did you mean ${dashes(typed)}${near}?)` : ''}`;
}

/** A word where the program takes none: a mistyped subcommand when the program has any. */
function unknownCommand(program: Command, message: string): string {
  const word = program.args[0];
  const names = program.commands.map((c) => c.name());
  if (word === undefined) return message;
  if (names.length === 0) return `unexpected argument '${word}' (every setting is a flag)`;
  const near = closest(word, names);
  return `unknown command '${word}'${near ? ` (did you mean ${near}?)` : ''} (commands: ${names.join(', ')})`;
}

export interface UsageContext {
  bin: string;
  program: Command;
  argv: readonly string[];
  longNames: ReadonlySet<string>;
}

/** commander's error text and code → the one line a user sees, ending in where to read more. */
export function usageLine(ctx: UsageContext, message: string, code: string | undefined): string {
  const first = message.replace(/^error: /, '').split('\n')[0]!.trim().replace(/\.$/, '');
  const option = /^unknown option '([^']+)'/.exec(first);
  const what =
    code === 'commander.unknownOption' && option
      ? unknownOption(option[1]!, ctx.longNames, ctx.argv)
      : code === 'commander.excessArguments' && !/ for '/.test(first)
        ? unknownCommand(ctx.program, first)
        : first;
  return `${ctx.bin}: ${what}; see ${ctx.bin} --help\n`;
}
