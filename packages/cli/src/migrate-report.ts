// `migrate`'s findings on a confd layout: its confd.toml settings and, per resource, what this
// project reads differently and whether the Go engine takes the template. Reads files only.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfdError } from '@confd-haproxy/base';
import { compileGoTemplate, GoTemplateError } from '@confd-haproxy/gotemplate';
import { ResourceError, validateResource } from '@confd-haproxy/resource';
import { CONFD_GO_FUNC_NAMES, isGoTemplate } from '@confd-haproxy/template';
import { CONFD_BACKENDS, CONFD_TOML_RENAMED, CONFD_TOML_SETTINGS, CONFD_TOML_UNSUPPORTED } from './confd-toml.js';

/** A confd.toml setting to change: `where` names file and key. */
export interface SettingFinding {
  where: string;
  problem: string;
}

export interface ResourceReport {
  /** conf.d/haproxy.toml */
  resource: string;
  src?: string;
  dest?: string;
  keys?: string[];
  engine?: 'go' | 'handlebars';
  /** The resource file's own [template] table, for rendering it elsewhere. */
  table?: Record<string, unknown>;
  /** Whether the template parses with the Go engine; the refusal names file:line:col. */
  template?: { ok: true } | { ok: false; code: string; message: string };
  /** Rendered here against the store (with store flags). */
  rendered?: { ok: true; bytes: number } | { ok: false; message: string; code?: string };
  /** Compared with confd's output (with --confd-bin). */
  confd?: { identical: true } | { identical: false; message: string };
  /** What this project reads or runs differently. */
  notes: string[];
  /** Problems that keep it from working as is. */
  problems: string[];
  /** Loads here and its template parses: it can be rendered (store flags) and compared (--confd-bin). */
  renderable: boolean;
}

export interface MigrateReport {
  confdir: string;
  settings: SettingFinding[];
  resources: ResourceReport[];
}

/** Bad input: a file that cannot be read or parsed (exit 65). */
export class MigrateInputError extends ConfdError<'MIGRATE_UNREADABLE'> {
  override readonly name = 'MigrateInputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('MIGRATE_UNREADABLE', 'data', message, options);
  }
}

function readToml(file: string, shown: string): Record<string, unknown> {
  try {
    return parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new MigrateInputError(`${shown}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

/** One setting of confd.toml: what to change, if anything. */
function settingProblem(given: string, value: unknown): string | undefined {
  // confd's own spellings, backend names and file list are read as they are (--config-file).
  const key = CONFD_TOML_RENAMED[given] ?? given;
  const unsupported = CONFD_TOML_UNSUPPORTED[key];
  if (unsupported) return `not supported: ${unsupported}`;
  if (!CONFD_TOML_SETTINGS[key]) return 'not a confd 0.17 setting, and unknown here';
  if (key === 'backend' && typeof value === 'string') {
    const ours = CONFD_BACKENDS[value];
    if (!ours) return `the ${JSON.stringify(value)} backend is not offered (${Object.keys(CONFD_BACKENDS).join(', ')} are)`;
  }
  return undefined;
}

/** DIR/confd.toml (optional): the settings to change. */
export function confdTomlFindings(confdir: string): SettingFinding[] {
  const file = join(confdir, 'confd.toml');
  if (!existsSync(file)) return [];
  const doc = readToml(file, file);
  return Object.entries(doc).flatMap(([k, v]) => {
    const problem = settingProblem(k, v);
    return problem ? [{ where: `confd.toml: ${k}`, problem }] : [];
  });
}

/** Whether the Go engine parses the template. */
function templateCheck(path: string, shown: string): ResourceReport['template'] {
  try {
    compileGoTemplate(readFileSync(path, 'utf8'), { file: shown, name: basename(path), funcNames: CONFD_GO_FUNC_NAMES });
    return { ok: true };
  } catch (err) {
    if (err instanceof GoTemplateError) return { ok: false, code: err.code === 'GOTEMPLATE_UNSUPPORTED' ? 'TEMPLATE_UNSUPPORTED' : 'TEMPLATE_SYNTAX', message: err.message };
    return { ok: false, code: 'TEMPLATE_NOT_FOUND', message: `${shown}: ${(err as Error).message}` };
  }
}

/** What this project runs or reads differently from confd for one [template] table. */
function resourceNotes(t: Record<string, unknown>, engine: 'go' | 'handlebars'): string[] {
  const notes: string[] = [];
  const cmds = ['check_cmd', 'reload_cmd'].filter((k) => typeof t[k] === 'string' && t[k] !== '');
  if (cmds.length) notes.push(`${cmds.join(' and ')}: run by /bin/sh as confd runs them; once --allow-command is given each must match a pattern and runs as argv, without a shell`);
  return notes;
}

/** One conf.d/*.toml: what it names, what differs, whether its template parses. */
function resourceReport(confdir: string, name: string): ResourceReport {
  const file = join(confdir, 'conf.d', name);
  const resource = `conf.d/${name}`;
  const doc = readToml(file, resource);
  const t = doc.template;
  const report: ResourceReport = { resource, notes: [], problems: [], renderable: false };
  if (typeof t !== 'object' || t === null || Array.isArray(t)) {
    report.problems.push(`${resource}: [template] table is missing`);
    return report;
  }
  const table = t as Record<string, unknown>;
  const src = typeof table.src === 'string' ? table.src : undefined;
  const engine = src !== undefined && isGoTemplate(src) ? 'go' : 'handlebars';
  Object.assign(report, { table, engine, ...(src !== undefined ? { src } : {}), ...(typeof table.dest === 'string' ? { dest: table.dest } : {}) });
  if (Array.isArray(table.keys)) report.keys = table.keys.map(String);
  report.notes = resourceNotes(table, engine);
  try {
    validateResource(doc, file, { confdir });
  } catch (err) {
    if (!(err instanceof ResourceError)) throw err;
    report.problems.push(err.message);
    return report;
  }
  if (engine === 'handlebars') report.problems.push(`src "${src}" does not end in .tmpl: this project renders it as a Handlebars template, confd as a Go one (rename it to .tmpl for the Go engine)`);
  else {
    report.template = templateCheck(join(confdir, 'templates', src!), `templates/${src}`);
    if (!report.template?.ok) report.problems.push(`${report.template!.message} (${report.template!.code})`);
  }
  report.renderable = engine === 'handlebars' || Boolean(report.template?.ok);
  return report;
}

/** The whole layout: confd.toml and every conf.d/*.toml, sorted. */
export function migrateReport(confdir: string): MigrateReport {
  let names: string[];
  try {
    names = readdirSync(join(confdir, 'conf.d')).filter((n) => n.endsWith('.toml')).sort();
  } catch (err) {
    throw new MigrateInputError(`${join(confdir, 'conf.d')}: cannot read the resource directory (${(err as Error).message})`, { cause: err });
  }
  return { confdir, settings: confdTomlFindings(confdir), resources: names.map((n) => resourceReport(confdir, n)) };
}

/** A resource is ready when nothing keeps it from rendering here as confd renders it. */
export const resourceReady = (r: Pick<ResourceReport, 'problems' | 'rendered' | 'confd'>): boolean => r.problems.length === 0 && r.rendered?.ok !== false && r.confd?.identical !== false;

/** Where two outputs first differ, by line: "line 3: here "a" · confd "b"". */
export function firstDifference(here: string, theirs: string): string | undefined {
  if (here === theirs) return undefined;
  const a = here.split('\n');
  const b = theirs.split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `line ${i + 1}: here ${JSON.stringify(a[i] ?? '(end of file)')} · confd ${JSON.stringify(b[i] ?? '(end of file)')}`;
}

/** Distinct keys, the first few. */
function keyList(keys: readonly string[]): string {
  const distinct = [...new Set(keys)];
  return distinct.length > 6 ? `${distinct.slice(0, 6).join(', ')} and ${distinct.length - 6} more` : distinct.join(', ');
}

/** The report as text, one block per resource, and a last line. */
export function reportText(r: MigrateReport): string {
  const lines: string[] = [];
  if (r.settings.length) {
    lines.push('confd.toml: needs attention');
    for (const s of r.settings) lines.push(`  ${s.where}: ${s.problem}`);
  }
  for (const res of r.resources) {
    lines.push(`${res.resource}: ${resourceReady(res) ? 'ready' : 'needs attention'}`);
    if (res.src !== undefined) lines.push(`  src templates/${res.src} (${res.engine === 'go' ? 'Go template' : 'Handlebars'}) → dest ${res.dest ?? '?'}; keys ${keyList(res.keys ?? [])}`);
    if (res.template?.ok) lines.push('  template: the Go engine takes it');
    if (res.rendered) lines.push(`  rendered here: ${res.rendered.ok ? `${res.rendered.bytes} bytes` : `${res.rendered.message.split('\n')[0]}${res.rendered.code ? ` (${res.rendered.code})` : ''}`}`);
    if (res.confd) lines.push(`  confd: ${res.confd.identical ? 'byte-identical' : res.confd.message}`);
    for (const p of res.problems) lines.push(`  problem: ${p}`);
    for (const n of res.notes) lines.push(`  differs: ${n}`);
  }
  const ready = r.resources.filter(resourceReady).length;
  lines.push(`${r.resources.length} resource${r.resources.length === 1 ? '' : 's'}: ${ready} ready, ${r.resources.length - ready} need attention; confd.toml: ${r.settings.length} setting${r.settings.length === 1 ? '' : 's'} to change`);
  return `${lines.join('\n')}\n`;
}
