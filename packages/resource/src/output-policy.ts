// What a rendered file may say: no directive that loads code or runs a program (unless the instance
// allows it by name), and, from a bundle, no environment variable the instance does not allow. Read
// line by line as HAProxy reads them (config-words.ts), before the file is staged or checked.
import { configLines, type ConfigLine } from './config-words.js';
import { ResourceError } from './errors.js';
import type { LocalPolicy } from './policy.js';

/**
 * HAProxy 2.6 keywords (configuration.txt 3.1, 3.7, 4.2) that load code, run programs, or change the
 * environment everything after them reads (OPENSSL_CONF loads engines; "${NAME}" builds keywords).
 * A sequence of two words is named with both.
 */
export const CODE_DIRECTIVES: Readonly<Record<string, string>> = {
  'lua-load': 'loads Lua code into HAProxy',
  'lua-load-per-thread': 'loads Lua code into HAProxy',
  'lua-prepend-path': 'sets where Lua code is loaded from',
  'external-check': 'runs programs as health checks',
  'option external-check': 'runs programs as health checks',
  'insecure-fork-wanted': 'lets HAProxy start processes',
  'insecure-setuid-wanted': 'lets HAProxy run setuid programs',
  program: 'runs a program from the master process',
  'ssl-engine': 'loads an OpenSSL engine (a shared library)',
  'ssl-provider': 'loads an OpenSSL provider (a shared library)',
  'ssl-provider-path': 'sets where OpenSSL providers are loaded from',
  'filter opentracing': 'loads the tracer plugin (a shared library) its configuration names',
  setenv: 'changes the environment HAProxy, OpenSSL and the rest of the configuration read',
  presetenv: 'changes the environment HAProxy, OpenSSL and the rest of the configuration read',
  resetenv: 'changes the environment HAProxy, OpenSSL and the rest of the configuration read',
  unsetenv: 'changes the environment HAProxy, OpenSSL and the rest of the configuration read',
};

/** Keywords whose second word names what they do ("option external-check"). */
const TWO_WORD = new Set(['option', 'filter']);

/** Variables HAProxy sets itself, and its pseudo-variables: no secret of the host's. */
const HAPROXY_VARIABLES = new Set(['HAPROXY_LOCALPEER', 'HAPROXY_CFGFILES', 'HAPROXY_MWORKER', 'HAPROXY_CLI', 'HAPROXY_MASTER_CLI', 'HAPROXY_STARTUP_VERSION', '.FILE', '.LINE', '.SECTION']);

export interface OutputRules {
  /** Directives of CODE_DIRECTIVES a rendered file may use all the same (--allow-directive). */
  allowDirectives: readonly string[];
  /** Environment variables the file may make HAProxy read; undefined: any (the operator's own confdir). */
  allowEnv?: readonly string[];
}

/**
 * The rules a rendered file is held to: a bundle's always; the operator's own confdir's once the
 * instance restricts anything (an --allow-* flag), since "whatever lands in conf.d" is then not trusted either.
 */
export function outputRules(policy: LocalPolicy | undefined, bundle: boolean): OutputRules | undefined {
  const allowDirectives = policy?.allowDirectives ?? [];
  if (bundle) return { allowDirectives, allowEnv: policy?.allowEnv ?? [] };
  const restricted = Boolean(policy && (policy.allowCommands.length || policy.allowDests.length || allowDirectives.length));
  return restricted ? { allowDirectives } : undefined;
}

/** The directive a line starts with, when it is one of CODE_DIRECTIVES; "$…" when the keyword comes from a variable. */
function directiveOf(l: ConfigLine): { name: string; expanded: boolean } | undefined {
  const [first, second] = l.words;
  const two = TWO_WORD.has(first!) && second !== undefined;
  const expanded = l.expanded[0]! || (two && l.expanded[1]!);
  const name = two ? `${first} ${second}` : first!;
  if (expanded) return { name, expanded };
  return name in CODE_DIRECTIVES ? { name, expanded } : undefined;
}

function lineProblems(l: ConfigLine, rules: OutputRules): string[] {
  const problems: string[] = [];
  const d = directiveOf(l);
  if (d?.expanded) problems.push(`its keyword comes from an environment variable (${JSON.stringify(d.name)}): write keywords out`);
  else if (d && !rules.allowDirectives.includes(d.name)) problems.push(`${d.name} ${CODE_DIRECTIVES[d.name]}; a rendered file may use it only with --allow-directive ${JSON.stringify(d.name)}`);
  if (rules.allowEnv) {
    for (const v of new Set(l.variables)) {
      if (!HAPROXY_VARIABLES.has(v) && !rules.allowEnv.includes(v)) problems.push(`"\${${v}}" makes HAProxy read the environment variable ${v}, which a bundle may read only with --allow-env ${v}`);
    }
  }
  return problems;
}

/** Every line of `text` that breaks the rules, as one error naming the resource, dest and line; undefined: none. */
export function renderedProblem(resource: { name: string; dest: string }, text: string, rules: OutputRules): ResourceError | undefined {
  const problems = configLines(text).flatMap((l) => lineProblems(l, rules).map((p) => `${resource.name}: ${resource.dest} line ${l.line}: ${p}`));
  if (!problems.length) return undefined;
  return new ResourceError('RESOURCE_NOT_ALLOWED', `${problems.join('\n')}\n${resource.dest} left as it was`);
}
