// How check_cmd and reload_cmd run, and --allow-command. A command is read as shell words
// (shell-quote); run without a shell it must be plain words: an operator, a glob, a variable or
// command substitution or a comment is refused, as is a control character. A pattern matches word
// by word after `{{.src}}` became the stage path: a literal word equals the command's word, and a
// glob word's `*` and `?` match only plain characters, never quotes, whitespace or shell syntax.
import { parse, type ParseEntry } from 'shell-quote';
import type { ResourceConfig } from './load.js';
import { notPlain, PLAIN_CHARS } from './plain.js';

/** Operator-written commands keep /bin/sh (confd runs `/bin/sh -c`); `argv`: the words run as the program and its arguments. */
export type CommandMode = 'shell' | 'argv';

/**
 * A command of a store bundle, and every command while --allow-command is set, runs as argv
 * without a shell; the operator's own conf.d without --allow-command keeps /bin/sh.
 */
export function commandMode(o: { fromBundle: boolean; allowCommands: readonly string[] }): CommandMode {
  return o.fromBundle || o.allowCommands.length > 0 ? 'argv' : 'shell';
}

/** `{{.src}}` as check_cmd spells it (confd allows spaces inside the braces). */
const SRC = /\{\{\s*\.src\s*\}\}/g;
/** The one spelling words and patterns are compared in. */
const SRC_WORD = '{{.src}}';

/** A command's words, or why it is not plain words. */
export type Words = { words: string[] } | { problem: string };

/** One word of a pattern: matched as written, or a glob. */
type PatternWord = { literal: string } | { glob: string };

/** A control character (a newline would end a command in sh; shell-quote reads it as a space). */
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A `$` expansion, as shell-quote reports it through the env lookup below. */
interface Expansion {
  expansion: string;
}
type Entry = ParseEntry | Expansion;

/** What a parsed entry that is not a word is, in words ("shell operator \"&&\""). */
function notAWord(e: Exclude<Entry, string>): string {
  if ('expansion' in e) return `variable or command substitution "$${e.expansion}"`;
  if ('comment' in e) return `comment "#${e.comment}"`;
  if (e.op === 'glob') return `glob "${e.pattern}"`;
  return `shell operator "${e.op}"`;
}

/** shell-quote's entries for text, every `$...` kept as an Expansion instead of being replaced by its value. */
function entries(text: string): { entries: Entry[] } | { problem: string } {
  const control = CONTROL.exec(text);
  if (control) return { problem: `control character ${JSON.stringify(control[0])}` };
  // shell-quote leaves backticks inside words; sh would run what they enclose.
  if (text.includes('`')) return { problem: 'command substitution "`"' };
  const parsed = parse<Expansion>(text.replace(SRC, SRC_WORD), (name: string) => ({ expansion: name }) satisfies Expansion);
  return parsed.length ? { entries: parsed } : { problem: 'no command' };
}

/** The command's words (`{{.src}}` kept as written), or why they are not plain words. */
export function commandWords(command: string): Words {
  const e = entries(command);
  if ('problem' in e) return e;
  const words: string[] = [];
  for (const x of e.entries) {
    if (typeof x !== 'string') return { problem: notAWord(x) };
    words.push(x);
  }
  return { words };
}

/** The argv a command runs as: its words, `{{.src}}` inside any of them replaced by src (one argument, never split). */
export function commandArgv(command: string, src?: string): Words {
  const w = commandWords(command);
  if ('problem' in w || src === undefined) return w;
  return { words: w.words.map((word) => word.replaceAll(SRC_WORD, src)) };
}

/** The words as a reader of a log sees them: single-quoted where not plain (shell-quote's quote escapes even "="). */
export const wordsText = (words: readonly string[]): string => words.map((w) => (w !== '' && notPlain(w).length === 0 ? w : shellQuote(w))).join(' ');

/** A pattern's words: literal words and globs (an unquoted `*` or `?`); anything else is a problem. */
export function patternWords(pattern: string): { words: PatternWord[] } | { problem: string } {
  const e = entries(pattern);
  if ('problem' in e) return e;
  const words: PatternWord[] = [];
  for (const x of e.entries) {
    if (typeof x === 'string') words.push({ literal: x });
    else if ('op' in x && x.op === 'glob') words.push({ glob: x.pattern });
    else return { problem: notAWord(x) };
  }
  return { words };
}

/** Why a --allow-command pattern cannot be used (undefined: it can). */
export function patternProblem(pattern: string): string | undefined {
  const p = patternWords(pattern);
  return 'problem' in p ? `${JSON.stringify(pattern)} is not plain words and globs (${p.problem})` : undefined;
}

const escapeRegExp = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

// Hand-written, not picomatch: a word glob needs only `*` and `?` over one fixed class, where
// picomatch's `?` never matches "/" and its brackets, braces and escapes would add meanings.
function globRegExp(glob: string, src: string | undefined): RegExp {
  const parts = glob.split(SRC_WORD).map((part) =>
    part
      .split('')
      .map((c) => (c === '*' ? `[${PLAIN_CHARS}]*` : c === '?' ? `[${PLAIN_CHARS}]` : escapeRegExp(c)))
      .join(''),
  );
  return new RegExp(`^${parts.join(escapeRegExp(src ?? SRC_WORD))}$`);
}

/** One pattern word against one argv word; `{{.src}}` in either stands for src. */
function wordMatches(p: PatternWord, word: string, src: string | undefined): boolean {
  if ('literal' in p) return (src === undefined ? p.literal : p.literal.replaceAll(SRC_WORD, src)) === word;
  return globRegExp(p.glob, src).test(word);
}

/**
 * A command is allowed when its words, `{{.src}}` made src (check_cmd's stage path; without it
 * `{{.src}}` is compared as written), match some pattern word for word. A command that is not
 * plain words matches nothing.
 */
export function commandAllowed(command: string, patterns: readonly string[], src?: string): boolean {
  const argv = commandArgv(command, src);
  if ('problem' in argv) return false;
  return patterns.some((pattern) => {
    const p = patternWords(pattern);
    if ('problem' in p || p.words.length !== argv.words.length) return false;
    return p.words.every((w, i) => wordMatches(w, argv.words[i]!, src));
  });
}

/** The stage path a check_cmd will get as `{{.src}}`: beside dest, hidden, with a random hex tag. */
export function stagePath(dest: string, tag: string): string {
  const slash = dest.lastIndexOf('/');
  return `${dest.slice(0, slash + 1)}.${dest.slice(slash + 1)}.${tag}`;
}

/** A tag of the length and characters of the real one: the glob classes hold every hex digit, so a match with it is a match with any. */
export const SAMPLE_STAGE_TAG = '0'.repeat(12);

/** A resource's commands, each with the `{{.src}}` it gets (check_cmd only: reload_cmd runs after the swap). */
function resourceCommands(r: ResourceConfig): { field: 'check_cmd' | 'reload_cmd'; command: string; src?: string }[] {
  return [
    ...(r.checkCmd !== undefined ? [{ field: 'check_cmd' as const, command: r.checkCmd, src: stagePath(r.dest, SAMPLE_STAGE_TAG) }] : []),
    ...(r.reloadCmd !== undefined ? [{ field: 'reload_cmd' as const, command: r.reloadCmd }] : []),
  ];
}

/** Single-quote for /bin/sh: the only thing ever substituted into a shell command is a path we made. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A shell command's `{{.src}}` (confd spelling, spaces allowed) → the quoted stage path; nothing else is substituted. */
export function substituteSrc(command: string, stage: string): string {
  return command.replace(SRC, () => shellQuote(stage));
}

/** How to run one command: its text for logs and results, and in argv mode the words to run without a shell. */
export type Invocation = { command: string; argv?: string[] } | { problem: string };

/** The invocation of a command in this mode, `{{.src}}` made src; a problem when argv mode cannot read it as plain words. */
export function invocation(command: string, mode: CommandMode, src?: string): Invocation {
  if (mode === 'shell') return { command: src === undefined ? command : substituteSrc(command, src) };
  const argv = commandArgv(command, src);
  return 'problem' in argv ? argv : { command: wordsText(argv.words), argv: argv.words };
}

/** Why a command may not run in this mode (undefined: it may): run as argv it must be plain words. */
export function commandRefusal(command: string, mode: CommandMode): string | undefined {
  if (mode === 'shell') return undefined;
  const w = commandWords(command);
  return 'problem' in w ? `is not plain words (${w.problem}): it runs without a shell` : undefined;
}

/** Why these resources' commands may not run (one line each): not plain words when run as argv, or matching no --allow-command. */
export function commandProblems(resources: readonly ResourceConfig[], o: { allowCommands: readonly string[]; mode: CommandMode }): string[] {
  const problems: string[] = [];
  for (const r of resources) {
    for (const { field, command, src } of resourceCommands(r)) {
      const refused = commandRefusal(command, o.mode);
      if (refused) problems.push(`${r.name}: ${field} ${JSON.stringify(command)} ${refused}`);
      else if (o.allowCommands.length && !commandAllowed(command, o.allowCommands, src)) problems.push(`${r.name}: ${field} ${JSON.stringify(command)} matches no --allow-command`);
    }
  }
  return problems;
}
