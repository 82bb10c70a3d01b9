// conf.d/*.toml → validated resources, as confd reads them, with errors naming file and field.
import { realpathSync, statSync, type Stats } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseServiceQuery, serviceQueryText } from '@confd-haproxy/kv';
import { durationMs, processOwner } from '@confd-haproxy/base';
import { parse as parseToml, TomlError } from 'smol-toml';
import { bundleSrcProblem } from './bundle-policy.js';
import { ResourceError } from './errors.js';
import { notPlain, PLAIN_CHARS_TEXT } from './plain.js';

export interface ResourceConfig {
  /** conf.d/haproxy.toml, relative to the confdir, for messages. */
  name: string;
  file: string;
  /** Absolute path of the template. */
  src: string;
  /** src as written, relative to the templates dir. */
  srcName: string;
  dest: string;
  keys: string[];
  /** Catalog services the template reads with `service` ("web", "primary.web", "db@dc2"), canonical and distinct. */
  services?: string[];
  /** Global prefix + the resource's prefix, confd style ("/production"). */
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  checkCmd?: string;
  reloadCmd?: string;
  commandTimeoutMs?: number;
  /** HAProxy admin stats socket: server address/weight/state changes go there instead of a reload. */
  runtimeSocket?: string;
  /** Data guards: refuse a render below this many servers... */
  minServers?: number;
  /** ...or one that removes more than this share (0..1) of them at once. */
  maxRemoved?: number;
}

export interface LoadResourcesOptions {
  confdir: string;
  /** The global -prefix, prepended to every resource's own prefix. */
  prefix?: string;
  /**
   * Relative dests resolve against this directory (default: the confdir). A renderer that takes its
   * conf.d from the store keeps writing next to its own --confdir.
   */
  destDir?: string;
  /** The confdir is a pushed bundle: each src must be one of its own templates. */
  bundle?: boolean;
}

const FIELDS = new Set(['src', 'dest', 'keys', 'services', 'prefix', 'mode', 'uid', 'gid', 'check_cmd', 'reload_cmd', 'command_timeout', 'runtime_socket', 'min_servers', 'max_removed']);

/** command_timeout: seconds as a number, or a duration in base's grammar ("30s", "500ms", "1m30s"). */
function parseTimeout(v: unknown, where: string): number {
  const ms = typeof v === 'number' || typeof v === 'string' ? durationMs(v) : undefined;
  if (ms === undefined) throw new ResourceError('RESOURCE_INVALID', `${where} "${String(v)}" is not a duration (e.g. "30s", "500ms")`);
  if (ms <= 0) throw new ResourceError('RESOURCE_INVALID', `${where} must be above 0`);
  return ms;
}

const statOf = (path: string): Stats | undefined => {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
};

/** dest with its directory's symlinks resolved, so two spellings of one file are caught. */
const realDest = (dest: string): string => {
  try {
    return join(realpathSync(dirname(dest)), basename(dest));
  } catch {
    return dest;
  }
};

const joinPrefix = (a: string, b: string) => {
  const parts = [a, b].map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean);
  return parts.length ? `/${parts.join('/')}` : '';
};

/** dest = "-": the rendered text goes to stdout (a dry render); nothing is staged, checked or reloaded. */
export const STDOUT_DEST = '-';

interface FileType {
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

/** What a path that is not a regular file is, in words ("a FIFO"); undefined for a regular file. */
export function specialFileKind(st: FileType): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** dest as written holds only plain characters: its stage path becomes check_cmd's `{{.src}}`, and a dest is no place for shell syntax. */
function checkDestName(destRaw: string, bad: (msg: string) => ResourceError): void {
  const chars = notPlain(destRaw);
  if (chars.length) throw bad(`[template].dest ${JSON.stringify(destRaw)} holds ${chars.map((c) => JSON.stringify(c)).join(' ')}: a dest may hold only ${PLAIN_CHARS_TEXT}`);
}

/** dest's directory exists and dest, when it exists, is a regular file (a FIFO or a device would hang a read). */
function checkDest(destRaw: string, dest: string, bad: (msg: string) => ResourceError): void {
  const destDir = dirname(dest);
  if (!statOf(destDir)?.isDirectory()) throw bad(`[template].dest "${destRaw}": directory ${destDir} does not exist`);
  const st = statOf(dest);
  const kind = st && specialFileKind(st);
  if (kind) throw bad(`[template].dest "${destRaw}" is ${kind}, not a regular file (dest = "-" writes to stdout)`);
}

/** Why a rendered file must not have this mode: a config file never needs set-id bits or writes by every user. */
export function unsafeModeProblem(mode: number): string | undefined {
  if (mode & 0o7000) return 'sets the setuid, setgid or sticky bit, which a rendered file never needs';
  if (mode & 0o002) return 'lets every user write dest (and so change what runs as root)';
  return undefined;
}

/** [template].services: consul-template service queries, each parsed; their canonical texts. */
function serviceList(v: unknown, bad: (msg: string) => ResourceError): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw bad('[template].services must be an array of strings (e.g. ["web", "db@dc2"])');
  return [
    ...new Set(
      v.map((s: string) => {
        const q = parseServiceQuery(s);
        if (!q) throw bad(`[template].services entry "${s}" is not a service ("name", "tag.name", "name@dc")`);
        return serviceQueryText(q);
      }),
    ),
  ];
}

/** Validate one parsed resource file. Throws ResourceError naming the file and field. */
export function validateResource(doc: Record<string, unknown>, file: string, opts: LoadResourcesOptions): ResourceConfig {
  const confdir = resolve(opts.confdir);
  const name = relative(confdir, file) || file;
  const bad = (msg: string) => new ResourceError('RESOURCE_INVALID', `${name}: ${msg}`);
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'template') continue;
    const isTable = typeof v === 'object' && v !== null && !Array.isArray(v);
    throw bad(`${isTable ? `unknown table [${k}]` : `unknown top-level key ${k}`} (only [template] is read)`);
  }
  const t = doc.template;
  if (t === undefined) throw bad('[template] table is missing');
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw bad('[template] must be a table');
  const tt = t as Record<string, unknown>;
  for (const k of Object.keys(tt)) {
    if (!FIELDS.has(k)) throw bad(`[template].${k} is not a known field (${[...FIELDS].join(', ')})`);
  }
  const str = (k: string, required: boolean): string | undefined => {
    const v = tt[k];
    if (v === undefined || v === '') {
      if (required) throw bad(`[template].${k} is required`);
      return undefined;
    }
    if (typeof v !== 'string') throw bad(`[template].${k} must be a string`);
    return v;
  };
  const srcName = str('src', true)!;
  const templatesDir = join(confdir, 'templates');
  const src = resolve(templatesDir, srcName);
  const outside = opts.bundle ? bundleSrcProblem(srcName, templatesDir) : undefined;
  if (outside) throw new ResourceError('RESOURCE_NOT_ALLOWED', `${name}: ${outside}`);
  if (!statOf(src)?.isFile()) throw bad(`[template].src "${srcName}" does not exist (looked for ${src})`);
  const destRaw = str('dest', true)!;
  checkDestName(destRaw, bad);
  const dest = destRaw === STDOUT_DEST ? STDOUT_DEST : isAbsolute(destRaw) ? destRaw : resolve(opts.destDir ?? confdir, destRaw);
  if (dest !== STDOUT_DEST) checkDest(destRaw, dest, bad);
  const services = serviceList(tt.services, bad);
  const keys = tt.keys ?? (services.length ? [] : undefined);
  if (!Array.isArray(keys) || (keys.length === 0 && !services.length) || !keys.every((k) => typeof k === 'string' && k !== '')) {
    throw bad('[template].keys must be a non-empty array of strings (e.g. ["/haproxy/mysqlslave"]), unless services is given');
  }
  const modeRaw = tt.mode ?? '0644';
  if (typeof modeRaw !== 'string' || !/^0?[0-7]{3,4}$/.test(modeRaw)) throw bad(`[template].mode "${String(modeRaw)}" is not an octal file mode (e.g. "0644")`);
  const mode = parseInt(modeRaw, 8);
  if (mode > 0o7777) throw bad(`[template].mode "${modeRaw}" is not an octal file mode`);
  const unsafe = unsafeModeProblem(mode);
  if (unsafe) throw new ResourceError('RESOURCE_NOT_ALLOWED', `${name}: [template].mode "${modeRaw}" ${unsafe}`);
  const id = (k: 'uid' | 'gid', dflt: number): number => {
    const v = tt[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`[template].${k} must be a non-negative integer`);
    return v;
  };
  const checkCmd = str('check_cmd', false);
  const reloadCmd = str('reload_cmd', false);
  const runtimeSocket = str('runtime_socket', false);
  const minServers = tt.min_servers;
  if (minServers !== undefined && !(typeof minServers === 'number' && Number.isInteger(minServers) && minServers >= 0)) throw bad('[template].min_servers must be a whole number ≥ 0');
  const maxRemoved = tt.max_removed;
  if (maxRemoved !== undefined && !(typeof maxRemoved === 'number' && maxRemoved >= 0 && maxRemoved <= 1)) throw bad('[template].max_removed must be a share between 0 and 1 (e.g. 0.5)');
  const prefix = joinPrefix(opts.prefix ?? '', str('prefix', false) ?? '');
  return {
    name,
    file,
    src,
    srcName,
    dest,
    keys: keys as string[],
    services,
    prefix,
    mode,
    uid: id('uid', processOwner().uid),
    gid: id('gid', processOwner().gid),
    ...(checkCmd ? { checkCmd } : {}),
    ...(reloadCmd ? { reloadCmd } : {}),
    ...(runtimeSocket ? { runtimeSocket } : {}),
    ...(minServers !== undefined ? { minServers: minServers as number } : {}),
    ...(maxRemoved !== undefined ? { maxRemoved: maxRemoved as number } : {}),
    ...(tt.command_timeout !== undefined ? { commandTimeoutMs: parseTimeout(tt.command_timeout, `${name}: [template].command_timeout`) } : {}),
  };
}

/**
 * Every `<confdir>/conf.d/*.toml`, sorted. All files are read and every problem is reported
 * (one ResourceError listing each); two resources writing one dest are refused, naming both.
 */
export async function loadResources(opts: LoadResourcesOptions): Promise<ResourceConfig[]> {
  const confdir = resolve(opts.confdir);
  const dir = join(confdir, 'conf.d');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.toml')).sort();
  } catch (err) {
    throw new ResourceError('RESOURCE_INVALID', `${dir}: cannot read the resource directory (${(err as Error).message})`, { cause: err });
  }
  const problems: ResourceError[] = [];
  const resources: ResourceConfig[] = [];
  for (const n of names) {
    const file = join(dir, n);
    const rel = relative(confdir, file);
    try {
      let doc: Record<string, unknown>;
      try {
        doc = parseToml(await readFile(file, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        const where = err instanceof TomlError ? ` at line ${err.line} column ${err.column}` : '';
        const first = (err as Error).message.split('\n')[0];
        throw new ResourceError('RESOURCE_INVALID', `${rel}: TOML syntax error${where} (${first})`, { cause: err });
      }
      resources.push(validateResource(doc, file, opts));
    } catch (err) {
      if (err instanceof ResourceError) problems.push(err);
      else throw err;
    }
  }
  const byDest = new Map<string, ResourceConfig>();
  for (const r of resources) {
    const key = realDest(r.dest);
    const other = byDest.get(key);
    if (other) {
      problems.push(
        new ResourceError(
          'RESOURCE_DUPLICATE_DEST',
          `${other.name} and ${r.name} both write ${r.dest}: each render would overwrite the other's output; render one file from one resource (use partials for each service)`,
        ),
      );
    } else byDest.set(key, r);
  }
  if (problems.length === 1) throw problems[0]!;
  if (problems.length > 1) {
    const code = (['RESOURCE_INVALID', 'RESOURCE_NOT_ALLOWED'] as const).find((c) => problems.some((p) => p.code === c)) ?? 'RESOURCE_DUPLICATE_DEST';
    throw new ResourceError(code, problems.map((p) => p.message).join('\n'), { cause: new AggregateError(problems) });
  }
  if (resources.length === 0) throw new ResourceError('RESOURCE_INVALID', `${dir}: no *.toml resources found`);
  return resources;
}
