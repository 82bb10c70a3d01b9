// confd spells its flags with one dash (-onetime, -node=x) and Go's flag package takes -flag=true;
// commander wants two dashes and bare booleans. Rewrite the known long names so every spelling
// works, and leave everything else for commander to judge.
import { Option, type Command } from 'commander';

const TRUE = new Set(['true', 't', '1', 'yes']);
const FALSE = new Set(['false', 'f', '0', 'no']);

/** A boolean flag's `=value` as Go's strconv.ParseBool reads it: `--x`, `--no-x`, or left for commander to refuse. */
function booleanArg(name: string, value: string): string {
  const v = value.toLowerCase();
  if (TRUE.has(v)) return `--${name}`;
  if (FALSE.has(v)) return `--no-${name}`;
  return `--${name}=${value}`;
}

/**
 * `-name` / `-name=value` → `--name` / `--name=value` for every name in `longNames`; for the names in
 * `booleans`, `=true` / `=false` → `--name` / `--no-name`.
 */
export function normalizeSingleDash(argv: readonly string[], longNames: ReadonlySet<string>, booleans: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  let rest = false;
  for (const arg of argv) {
    if (rest || arg === '--') {
      rest = true;
      out.push(arg);
      continue;
    }
    const m = /^--?([a-z][a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m || !longNames.has(m[1]!)) out.push(arg);
    else if (m[2] !== undefined && booleans.has(m[1]!)) out.push(booleanArg(m[1]!, m[2]));
    else out.push(`--${m[1]}${m[2] !== undefined ? `=${m[2]}` : ''}`);
  }
  return out;
}

/** Every command of a program, itself first. */
const commandsOf = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(commandsOf)];

/**
 * Give every boolean flag a hidden `--no-<name>` (so `-flag=false` can say it) and return the long
 * names and the boolean ones, for normalizeSingleDash.
 */
export function flagNames(program: Command): { longNames: Set<string>; booleans: Set<string> } {
  const longNames = new Set<string>();
  const booleans = new Set<string>();
  for (const cmd of commandsOf(program)) {
    for (const o of [...cmd.options]) {
      if (!o.long) continue;
      const name = o.long.slice(2);
      longNames.add(name);
      if (o.required || o.optional || o.negate) continue;
      booleans.add(name);
      if (!cmd.options.some((x) => x.long === `--no-${name}`)) cmd.addOption(new Option(`--no-${name}`).hideHelp());
    }
  }
  return { longNames, booleans };
}

/**
 * A subcommand's options with what the user gave before the subcommand's name filled in
 * (`--backend file plan` means the same as `plan --backend file`): for each option the subcommand
 * defines, its own value unless it is only a default, then an ancestor's value given by the user.
 */
export function mergedOpts<T>(cmd: Command): T {
  const out: Record<string, unknown> = { ...cmd.opts() };
  const given = (c: Command, k: string) => {
    const src = c.getOptionValueSource(k);
    return src !== undefined && src !== 'default' && src !== 'implied';
  };
  for (const k of new Set([...Object.keys(out), ...cmd.options.map((o) => o.attributeName())])) {
    if (given(cmd, k)) continue;
    for (let p = cmd.parent; p; p = p.parent) {
      if (given(p, k)) {
        out[k] = p.getOptionValue(k);
        break;
      }
    }
  }
  return out as T;
}

/** Whether the user set an option (on the command line, on the command or before it). */
export function userSet(cmd: Command, key: string): boolean {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const src = c.getOptionValueSource(key);
    if (src !== undefined && src !== 'default' && src !== 'implied') return true;
  }
  return false;
}
