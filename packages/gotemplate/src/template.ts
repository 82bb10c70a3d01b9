// A parsed template file and its render: Go's template.New(name).Funcs(funcs).Parse(text), then
// Execute(w, data), with every failure as a GoTemplateError naming file:line:column.
import { BUILTINS } from './builtins.js';
import { GoTemplateError, type GoTemplateErrorCode } from './errors.js';
import { execute, ExecError } from './exec.js';
import { ParseError, parseTemplate, type TreeSet } from './parse.js';
import { Unsupported, type GoFunc, type GoValue } from './value.js';

export interface GoTemplateOptions {
  /** How messages name the file (and the template's own name, as Go's is the file's base name). */
  file: string;
  name: string;
  /** The names of the functions a template may call besides Go's builtins (checked at parse time, as Go does). */
  funcNames: Iterable<string>;
}

export interface GoRenderOptions {
  /** The functions besides Go's builtins, by name; a builtin of the same name is replaced, as Go's Funcs does. */
  funcs: ReadonlyMap<string, GoFunc>;
  /** The data (Go's Execute(w, data)); confd passes nil. */
  dot?: GoValue;
  /** Called with each action's text before it is written; throw to refuse it. `at` tells where (computed on demand). */
  onPrint?: (text: string, at: () => { line: number; column: number }) => void;
  /** The output's limit in characters, and the error to throw past it. */
  maxChars?: number;
  tooLarge?: () => Error;
}

export interface GoTemplate {
  readonly file: string;
  render(opts: GoRenderOptions): string;
}

/** 1-based line and column (in characters) of an offset. */
function locate(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(pos, text.length)));
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: pos - (nl + 1) + 1 };
}

/** Parse `text`; a syntax error (or a literal that cannot be read as Go reads it) throws naming file:line:column. */
export function compileGoTemplate(text: string, opts: GoTemplateOptions): GoTemplate {
  const names = new Set(opts.funcNames);
  const at = (pos: number) => ({ file: opts.file, ...locate(text, pos) });
  let set: TreeSet;
  try {
    set = parseTemplate(opts.name, text, (n) => names.has(n) || BUILTINS.has(n));
  } catch (err) {
    if (err instanceof ParseError) throw new GoTemplateError('GOTEMPLATE_SYNTAX', err.message, at(err.pos), { cause: err });
    if (err instanceof Unsupported) throw new GoTemplateError('GOTEMPLATE_UNSUPPORTED', `${err.message}: not supported here; refused`, err.pos === undefined ? undefined : at(err.pos), { cause: err });
    throw err;
  }
  return {
    file: opts.file,
    render(r: GoRenderOptions): string {
      const funcs = new Map([...BUILTINS, ...r.funcs]);
      try {
        return execute(set, opts.name, r.dot, {
          funcs,
          onPrint: r.onPrint ? (s, pos) => r.onPrint!(s, () => locate(text, pos)) : undefined,
          maxChars: r.maxChars ?? Infinity,
          tooLarge: r.tooLarge ?? (() => new GoTemplateError('GOTEMPLATE_TOO_LARGE', 'the output grew past its limit')),
        } as Parameters<typeof execute>[3]);
      } catch (err) {
        if (err instanceof ExecError) throw new GoTemplateError(err.code as GoTemplateErrorCode, err.message, at(err.pos), { cause: err });
        if (err instanceof Unsupported) throw new GoTemplateError('GOTEMPLATE_UNSUPPORTED', `${err.message}: refused`, undefined, { cause: err });
        throw err;
      }
    },
  };
}
