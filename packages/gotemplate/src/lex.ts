// Go's text/template/parse/lex.go (Go 1.19), as one pass over the text: the same items, the same
// trim markers ("{{- " and " -}}"), the same errors.
export type ItemType =
  | 'error' | 'bool' | 'char' | 'charConstant' | 'comment' | 'complex' | 'assign' | 'declare' | 'eof'
  | 'field' | 'identifier' | 'leftDelim' | 'leftParen' | 'number' | 'pipe' | 'rawString' | 'rightDelim'
  | 'rightParen' | 'space' | 'string' | 'text' | 'variable'
  // keywords
  | 'block' | 'break' | 'continue' | 'dot' | 'define' | 'else' | 'end' | 'if' | 'nil' | 'range' | 'template' | 'with';

export interface Item {
  type: ItemType;
  /** Offset in the text (UTF-16 code units). */
  pos: number;
  val: string;
  line: number;
}

const KEYWORDS: Readonly<Record<string, ItemType>> = {
  '.': 'dot', block: 'block', break: 'break', continue: 'continue', define: 'define', else: 'else', end: 'end',
  if: 'if', range: 'range', nil: 'nil', template: 'template', with: 'with',
};

const LEFT = '{{';
const RIGHT = '}}';
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlphaNumeric = (c: string | undefined) => c !== undefined && (c === '_' || /^[\p{L}\p{Nd}]$/u.test(c));
const hasLeftTrimMarker = (s: string) => s.length >= 2 && s[0] === '-' && isSpace(s[1]);
const hasRightTrimMarker = (s: string) => s.length >= 2 && isSpace(s[0]) && s[1] === '-';
const leftTrimLength = (s: string) => s.length - s.replace(/^[ \t\r\n]+/, '').length;
const rightTrimLength = (s: string) => s.length - s.replace(/[ \t\r\n]+$/, '').length;

/** The items of `input`; the last one is 'eof' or 'error'. */
export function lex(input: string, opts: { breakOK: boolean; continueOK: boolean } = { breakOK: true, continueOK: true }): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let line = 1;
  let startLine = 1;
  let parenDepth = 0;
  const EOF = undefined;

  const next = (): string | undefined => {
    if (pos >= input.length) {
      pos = input.length + 1; // as Go: the next backup undoes it
      return EOF;
    }
    const cp = input.codePointAt(pos)!;
    const c = String.fromCodePoint(cp);
    pos += c.length;
    if (c === '\n') line++;
    return c;
  };
  const backup = (c: string | undefined) => {
    if (c === EOF) {
      pos = input.length;
      return;
    }
    pos -= c.length;
    if (c === '\n') line--;
  };
  const peek = () => (pos < input.length ? String.fromCodePoint(input.codePointAt(pos)!) : EOF);
  const emit = (type: ItemType) => {
    items.push({ type, pos: start, val: input.slice(start, pos), line: startLine });
    start = pos;
    startLine = line;
  };
  const ignore = () => {
    line += countNewlines(input.slice(start, pos));
    start = pos;
    startLine = line;
  };
  const countNewlines = (s: string) => s.split('\n').length - 1;
  const accept = (valid: string) => {
    const c = next();
    if (c !== EOF && valid.includes(c)) return true;
    backup(c);
    return false;
  };
  const acceptRun = (valid: string) => {
    for (;;) {
      const c = next();
      if (c === EOF || !valid.includes(c)) {
        backup(c);
        return;
      }
    }
  };
  class Stop extends Error {}
  const errorf = (msg: string): never => {
    items.push({ type: 'error', pos: start, val: msg, line: startLine });
    throw new Stop();
  };
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    const rest = input.slice(pos);
    if (hasRightTrimMarker(rest) && rest.startsWith(RIGHT, 2)) return { delim: true, trim: true };
    if (rest.startsWith(RIGHT)) return { delim: true, trim: false };
    return { delim: false, trim: false };
  };
  const atTerminator = () => {
    const c = peek();
    if (isSpace(c)) return true;
    if (c === EOF || c === '.' || c === ',' || c === '|' || c === ':' || c === ')' || c === '(') return true;
    return input.startsWith(RIGHT, pos);
  };

  type State = (() => State) | undefined;

  const lexText = (): State => {
    const x = input.indexOf(LEFT, pos);
    if (x >= 0) {
      if (x > pos) {
        line += countNewlines(input.slice(pos, x));
        let trimLength = 0;
        if (hasLeftTrimMarker(input.slice(x + LEFT.length))) trimLength = rightTrimLength(input.slice(pos, x));
        pos = x - trimLength;
        // emit without recounting lines: the text's own newlines were counted above
        items.push({ type: 'text', pos: start, val: input.slice(start, pos), line: startLine });
        pos = x;
        start = pos;
        startLine = line;
      }
      return lexLeftDelim;
    }
    pos = input.length;
    if (pos > start) {
      line += countNewlines(input.slice(start, pos));
      items.push({ type: 'text', pos: start, val: input.slice(start, pos), line: startLine });
      start = pos;
      startLine = line;
    }
    items.push({ type: 'eof', pos, val: '', line: startLine });
    return undefined;
  };

  const lexLeftDelim = (): State => {
    pos += LEFT.length;
    const trim = hasLeftTrimMarker(input.slice(pos));
    const afterMarker = trim ? 2 : 0;
    if (input.startsWith('/*', pos + afterMarker)) {
      pos += afterMarker;
      ignore();
      return lexComment;
    }
    emit('leftDelim');
    pos += afterMarker;
    ignore();
    parenDepth = 0;
    return lexInsideAction;
  };

  const lexComment = (): State => {
    pos += 2;
    const x = input.indexOf('*/', pos);
    if (x < 0) return errorf('unclosed comment');
    pos = x + 2;
    line += countNewlines(input.slice(start, pos));
    const { delim, trim } = atRightDelim();
    if (!delim) return errorf('comment ends before closing delimiter');
    emit('comment');
    if (trim) pos += 2;
    line += countNewlines(input.slice(start, pos));
    start = pos;
    pos += RIGHT.length;
    if (trim) pos += leftTrimLength(input.slice(pos));
    ignore();
    return lexText;
  };

  const lexRightDelim = (): State => {
    const trim = hasRightTrimMarker(input.slice(pos));
    if (trim) {
      pos += 2;
      ignore();
    }
    pos += RIGHT.length;
    emit('rightDelim');
    if (trim) {
      pos += leftTrimLength(input.slice(pos));
      ignore();
    }
    return lexText;
  };

  const lexInsideAction = (): State => {
    const { delim } = atRightDelim();
    if (delim) {
      if (parenDepth === 0) return lexRightDelim;
      return errorf('unclosed left paren');
    }
    const c = next();
    if (c === EOF) return errorf('unclosed action');
    if (isSpace(c)) {
      backup(c);
      return lexSpace;
    }
    switch (c) {
      case '=':
        emit('assign');
        return lexInsideAction;
      case ':':
        if (next() !== '=') return errorf('expected :=');
        emit('declare');
        return lexInsideAction;
      case '|':
        emit('pipe');
        return lexInsideAction;
      case '"':
        return lexQuote;
      case '`':
        return lexRawQuote;
      case '$':
        return lexVariable;
      case "'":
        return lexChar;
      case '.':
        if (pos < input.length) {
          const r = input[pos]!;
          if (r < '0' || r > '9') return lexField;
        }
        backup(c);
        return lexNumber;
      case '(':
        emit('leftParen');
        parenDepth++;
        return lexInsideAction;
      case ')':
        emit('rightParen');
        parenDepth--;
        if (parenDepth < 0) return errorf(`unexpected right paren ${goQuoteRune(c)}`);
        return lexInsideAction;
    }
    if (c === '+' || c === '-' || (c >= '0' && c <= '9')) {
      backup(c);
      return lexNumber;
    }
    if (isAlphaNumeric(c)) {
      backup(c);
      return lexIdentifier;
    }
    if (c.codePointAt(0)! <= 0x7f && /^[\x20-\x7e]$/.test(c)) {
      emit('char');
      return lexInsideAction;
    }
    return errorf(`unrecognized character in action: ${goRuneName(c)}`);
  };

  const lexSpace = (): State => {
    let numSpaces = 0;
    for (;;) {
      const c = peek();
      if (!isSpace(c)) break;
      next();
      numSpaces++;
    }
    if (hasRightTrimMarker(input.slice(pos - 1)) && input.startsWith(RIGHT, pos - 1 + 2)) {
      backup(input[pos - 1]);
      if (numSpaces === 1) return lexRightDelim;
    }
    emit('space');
    return lexInsideAction;
  };

  const lexIdentifier = (): State => {
    for (;;) {
      const c = next();
      if (isAlphaNumeric(c)) continue;
      backup(c);
      const word = input.slice(start, pos);
      if (!atTerminator()) return errorf(`bad character ${goRuneName(peek() ?? '')}`);
      const kw = KEYWORDS[word];
      if (kw !== undefined && kw !== 'dot') {
        if ((kw === 'break' && !opts.breakOK) || (kw === 'continue' && !opts.continueOK)) emit('identifier');
        else emit(kw);
      } else if (word[0] === '.') emit('field');
      else if (word === 'true' || word === 'false') emit('bool');
      else emit('identifier');
      return lexInsideAction;
    }
  };

  const lexFieldOrVariable = (type: 'field' | 'variable'): State => {
    if (atTerminator()) {
      emit(type === 'variable' ? 'variable' : 'dot');
      return lexInsideAction;
    }
    for (;;) {
      const c = next();
      if (!isAlphaNumeric(c)) {
        backup(c);
        break;
      }
    }
    if (!atTerminator()) return errorf(`bad character ${goRuneName(peek() ?? '')}`);
    emit(type);
    return lexInsideAction;
  };
  const lexField = () => lexFieldOrVariable('field');
  const lexVariable = () => lexFieldOrVariable('variable');

  /** A quoted string or character constant: backslash escapes, no newline, ends at `quote`. */
  const lexQuoted = (quote: string, type: ItemType, unterminated: string) => (): State => {
    for (;;) {
      let c = next();
      if (c === '\\') {
        c = next();
        if (c !== EOF && c !== '\n') continue;
      }
      if (c === EOF || c === '\n') return errorf(unterminated);
      if (c === quote) break;
    }
    emit(type);
    return lexInsideAction;
  };
  const lexChar = lexQuoted("'", 'charConstant', 'unterminated character constant');
  const lexQuote = lexQuoted('"', 'string', 'unterminated quoted string');

  const scanNumber = (): boolean => {
    accept('+-');
    let digits = '0123456789_';
    if (accept('0')) {
      if (accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (accept('oO')) digits = '01234567_';
      else if (accept('bB')) digits = '01_';
    }
    acceptRun(digits);
    if (accept('.')) acceptRun(digits);
    if (digits.length === 11 && accept('eE')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    if (digits.length === 23 && accept('pP')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    accept('i');
    if (isAlphaNumeric(peek())) {
      next();
      return false;
    }
    return true;
  };

  const lexNumber = (): State => {
    if (!scanNumber()) return errorf(`bad number syntax: ${goQuote(input.slice(start, pos))}`);
    const sign = peek();
    if (sign === '+' || sign === '-') {
      if (!scanNumber() || input[pos - 1] !== 'i') return errorf(`bad number syntax: ${goQuote(input.slice(start, pos))}`);
      emit('complex');
    } else emit('number');
    return lexInsideAction;
  };

  const lexRawQuote = (): State => {
    for (;;) {
      const c = next();
      if (c === EOF) return errorf('unterminated raw quoted string');
      if (c === '`') break;
    }
    line = startLine + countNewlines(input.slice(start, pos));
    emit('rawString');
    return lexInsideAction;
  };

  let state: State = lexText;
  try {
    while (state) state = state();
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
  }
  return items;
}

/** Go's %q of a string (strconv.Quote) for ASCII-only messages; enough for error texts. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

function goQuoteRune(c: string): string {
  return `'${c}'`;
}

/** Go's %#U: U+0023 '#'. */
function goRuneName(c: string): string {
  const cp = c.codePointAt(0) ?? 0;
  const hex = cp.toString(16).toUpperCase().padStart(4, '0');
  return /\p{L}|\p{M}|\p{N}|\p{P}|\p{S}/u.test(c) ? `U+${hex} '${c}'` : `U+${hex}`;
}
