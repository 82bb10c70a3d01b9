// Go templates (a resource's `src` ending in .tmpl) rendered as confd 0.17 renders them: Go's
// text/template semantics (@confd-haproxy/gotemplate) over confd's function map (go-funcs.ts), with
// this project's rules on top: the injection guard (no action may write CR, LF or NUL), the size
// budget, getenv's allowed names, DNS lookups answered between passes.
import { readFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { compileGoTemplate, GoTemplateError, type GoTemplate, type GoTemplateErrorCode } from '@confd-haproxy/gotemplate';
import { checkOutput, tooLarge } from './budget.js';
import { TemplateError, TemplateProblem, toTemplateError, type TemplateErrorCode } from './errors.js';
import { DANGER } from './guard.js';
import { cleanKey, confdGoFuncs, CONFD_GO_FUNC_NAMES } from './go-funcs.js';
import type { LookupRequest } from './helpers.js';
import { callPass, type PassRunner } from './types.js';

export interface GoEngineOptions {
  templatesDir: string;
  /** Names a template file in messages. */
  fileName: (path: string) => string;
  env: Readonly<Record<string, string | undefined>>;
  envNames: ReadonlySet<string> | undefined;
  now: () => Date;
  maxBytes: number;
  answerLookups: (ids: readonly string[], signal?: AbortSignal) => Promise<ReadonlyArray<readonly [string, unknown]>>;
  maxPasses: number;
}

const CODES: Readonly<Record<GoTemplateErrorCode, TemplateErrorCode>> = {
  GOTEMPLATE_SYNTAX: 'TEMPLATE_SYNTAX',
  GOTEMPLATE_EXEC: 'TEMPLATE_HELPER',
  GOTEMPLATE_UNSUPPORTED: 'TEMPLATE_UNSUPPORTED',
  GOTEMPLATE_TOO_LARGE: 'TEMPLATE_TOO_LARGE',
};

const charNames = (s: string) => [...new Set([...s].filter((c) => DANGER.test(c)).map((c) => (c === '\r' ? 'CR' : c === '\n' ? 'LF' : 'NUL')))].join(' and ');

/** As RenderOptions' `signal` and `runPass`. */
export interface GoRenderOptions {
  signal?: AbortSignal;
  runPass?: PassRunner;
}

export interface GoEngine {
  reset(): void;
  render(src: string, data: readonly { key: string; value: string }[], opts?: GoRenderOptions): Promise<string>;
}

export function createGoEngine(opts: GoEngineOptions): GoEngine {
  const compiled = new Map<string, GoTemplate>();

  const load = async (src: string): Promise<GoTemplate> => {
    const path = isAbsolute(src) ? src : join(opts.templatesDir, src);
    const hit = compiled.get(path);
    if (hit) return hit;
    const file = opts.fileName(path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new TemplateError('TEMPLATE_NOT_FOUND', `${file}: cannot read the template (${(err as Error).message})`, { cause: err, file });
    }
    const t = compileGoTemplate(text, { file, name: basename(path), funcNames: CONFD_GO_FUNC_NAMES });
    compiled.set(path, t);
    return t;
  };

  // Where a line break in an action's output may have come from: a key or a value of the store, or
  // a text a function brought in (getenv, a decoded JSON string or base64 text). When none holds
  // one, the action's line breaks are the template's own (println, a "\n" in a literal) and
  // confd's output is kept.
  const dangerousKeys = (byKey: ReadonlyMap<string, string>): string[] => [...byKey].filter(([k, v]) => DANGER.test(k) || DANGER.test(v)).map(([k]) => k);

  const renderPass = (t: GoTemplate, byKey: ReadonlyMap<string, string>, lookups: ReadonlyMap<string, unknown>, wanted: Set<string>): string => {
    const sources = dangerousKeys(byKey);
    const decoded = (text: string, source: string) => void (DANGER.test(text) && sources.push(source));
    const funcs = confdGoFuncs({ byKey, env: opts.env, ...(opts.envNames ? { envNames: opts.envNames } : {}), now: opts.now, lookups, wanted, decoded });
    return t.render({
      funcs,
      onPrint: (text, where) => {
        if (sources.length === 0 || !DANGER.test(text)) return;
        const at = where();
        const key = sources[0];
        throw new TemplateError(
          'TEMPLATE_INJECTION',
          `${t.file}:${at.line}:${at.column}: this action would write ${charNames(text)}, and ${key} holds such characters; an action may not write line breaks or NUL that data could have brought: write them in the template text`,
          { file: t.file, line: at.line, column: at.column, ...(key?.startsWith('/') ? { key } : {}) },
        );
      },
      maxChars: opts.maxBytes,
      tooLarge: () => tooLarge(opts.maxBytes),
    });
  };

  return {
    reset(): void {
      compiled.clear();
    },
    async render(src: string, data: readonly { key: string; value: string }[], renderOpts: GoRenderOptions = {}): Promise<string> {
      const runPass = renderOpts.runPass ?? callPass;
      const fallbackFile = opts.fileName(isAbsolute(src) ? src : join(opts.templatesDir, src));
      try {
        const t = await load(src);
        // memkv: path.Join("/", key)
        const byKey = new Map(data.map((p) => [cleanKey(p.key), p.value]));
        const lookups = new Map<string, unknown>();
        for (let pass = 1; ; pass++) {
          const wanted = new Set<string>();
          let out: string | undefined;
          let failure: unknown;
          runPass(() => {
            try {
              out = renderPass(t, byKey, lookups, wanted);
            } catch (err) {
              failure = err;
            }
          });
          if (wanted.size === 0 || pass >= opts.maxPasses) {
            if (failure !== undefined) throw failure;
            if (wanted.size) throw new TemplateError('TEMPLATE_HELPER', `${t.file}: DNS lookups still unanswered after ${opts.maxPasses} passes: ${[...wanted].map((w) => (JSON.parse(w) as LookupRequest).name).join(', ')}`, { file: t.file });
            checkOutput(out!, opts.maxBytes);
            return out!;
          }
          for (const [id, answer] of await opts.answerLookups([...wanted], renderOpts.signal)) lookups.set(id, answer);
        }
      } catch (err) {
        if (err instanceof GoTemplateError) {
          return Promise.reject(new TemplateError(CODES[err.code], err.message, { cause: err, file: err.at?.file ?? fallbackFile, line: err.at?.line, column: err.at?.column }));
        }
        if (err instanceof TemplateProblem) throw toTemplateError(err, fallbackFile);
        throw err;
      }
    },
  };
}
