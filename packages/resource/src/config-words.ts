// HAProxy's reading of a configuration line (configuration.txt 2.1-2.3), as far as a policy needs
// it: the words after quotes and escapes are resolved, and the environment variables it expands.
// Hand-written: no package parses HAProxy's configuration; this errs towards seeing more.

export interface ConfigLine {
  /** 1-based. */
  line: number;
  /** The words as HAProxy sees them; a variable stands in a word as "$" + its name. */
  words: string[];
  /** Per word: whether it holds a variable (what it says is known only when HAProxy starts). */
  expanded: boolean[];
  /** Every environment variable the line expands (inside double quotes). */
  variables: string[];
}

// HAProxy skips isspace() before the first word; words split at spaces and tabs. Treating every
// isspace() character as a separator sees the keyword in more lines than HAProxy would, never fewer.
const SPACE = new Set([' ', '\t', '\v', '\f']);
const ESCAPED: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t' };
// "$NAME", "${NAME}", "${NAME-default}", "${NAME[*]}"; a pseudo-variable starts with a dot (.LINE).
const VARIABLE = /^\$(?:\{(\.?[A-Za-z_][A-Za-z0-9_]*)[^}]*\}|(\.?[A-Za-z_][A-Za-z0-9_]*))/;

/** The character an escape stands for, and how many characters it took (`\x41` is four). */
function unescape(text: string, at: number): [string, number] {
  const next = text[at + 1];
  if (next === undefined) return ['\\', 1];
  if (next === 'x' && /^[0-9A-Fa-f]{2}$/.test(text.slice(at + 2, at + 4))) return [String.fromCharCode(parseInt(text.slice(at + 2, at + 4), 16)), 4];
  return [ESCAPED[next] ?? next, 2];
}

/** One line's words (a "#" outside quotes ends it). */
function readLine(text: string, line: number): ConfigLine {
  const words: string[] = [];
  const variables: string[] = [];
  let word: string | undefined;
  const expanded: boolean[] = [];
  let quote: '"' | "'" | undefined;
  const add = (s: string) => (word = (word ?? '') + s);
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else add(c);
    } else if (c === '\\') {
      const [ch, len] = unescape(text, i);
      add(ch);
      i += len - 1;
    } else if (quote === '"' && c === '$' && VARIABLE.test(text.slice(i))) {
      const m = VARIABLE.exec(text.slice(i))!;
      const name = m[1] ?? m[2]!;
      variables.push(name);
      expanded[words.length] = true;
      add(`$${name}`);
      i += m[0].length - 1;
    } else if (c === '"' && quote === '"') quote = undefined;
    else if ((c === '"' || c === "'") && quote === undefined) {
      quote = c;
      add(''); // "" is a word, even an empty one
    } else if (quote === undefined && c === '#') break;
    else if (quote === undefined && SPACE.has(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else add(c);
  }
  if (word !== undefined) words.push(word);
  return { line, words, expanded: words.map((_, n) => expanded[n] ?? false), variables };
}

/**
 * Every line of a rendered file that holds a word, numbered as an editor shows them. A CR or a NUL
 * ends what HAProxy reads of a line; what follows it is read here as a line of its own all the same.
 */
export function configLines(text: string): ConfigLine[] {
  return text.split('\n').flatMap((l, i) => l.split(/[\r\0]/).map((part) => readLine(part, i + 1)).filter((c) => c.words.length > 0));
}
