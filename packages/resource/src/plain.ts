// Plain characters: no quote, whitespace, control character or shell syntax. All a dest may hold,
// and all a glob word of --allow-command may match (so a stage path is always a plain word).

/** As a regular expression character class body. */
export const PLAIN_CHARS = 'A-Za-z0-9_@%+=:,./-';

/** The same, as a reader sees it, for messages. */
export const PLAIN_CHARS_TEXT = 'letters, digits and _ @ % + = : , . / -';

const NOT_PLAIN = new RegExp(`[^${PLAIN_CHARS}]`, 'g');

/** The characters of s that are not plain, each once, in order. */
export function notPlain(s: string): string[] {
  return [...new Set(s.match(NOT_PLAIN) ?? [])];
}
