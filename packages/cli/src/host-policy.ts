// The host half of the local policy from its flags: which files resources may write (--allow-dest),
// and what a pushed bundle may do beyond rendering HAProxy's configuration (--allow-directive,
// --allow-env, --allow-owner). Checked once, at start and on SIGHUP.
import { UsageError } from '@confd-haproxy/base';
import { allowDestProblems, CODE_DIRECTIVES, type LocalPolicy } from '@confd-haproxy/resource';

export interface HostPolicyFlags {
  allowDest: string[];
  allowDirective: string[];
  allowEnv: string[];
  allowOwner: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const OWNER = /^(\d+):(\d+)$/;

/** --allow-dest: an absolute file, or a directory written with a trailing "/"; a directory without it is the old meaning, refused with the fix. */
function allowDests(entries: readonly string[]): string[] {
  const relative = entries.find((d) => !d.startsWith('/'));
  if (relative !== undefined) throw new UsageError(`--allow-dest: "${relative}" is not an absolute path`);
  const [directory] = allowDestProblems({ allowDests: entries });
  if (directory) throw new UsageError(directory);
  return [...entries];
}

function allowDirectives(names: readonly string[]): string[] {
  const unknown = names.find((n) => !(n in CODE_DIRECTIVES));
  if (unknown !== undefined) throw new UsageError(`--allow-directive: "${unknown}" is not one of the directives refused without it (${Object.keys(CODE_DIRECTIVES).join(', ')})`);
  return [...names];
}

function allowEnv(names: readonly string[]): string[] {
  const bad = names.find((n) => !ENV_NAME.test(n));
  if (bad !== undefined) throw new UsageError(`--allow-env: "${bad}" is not an environment variable name`);
  return [...names];
}

function allowOwners(pairs: readonly string[]): { uid: number; gid: number }[] {
  return pairs.map((p) => {
    const m = OWNER.exec(p);
    if (!m) throw new UsageError(`--allow-owner: "${p}" is not UID:GID (numbers, e.g. 0:99)`);
    return { uid: Number(m[1]), gid: Number(m[2]) };
  });
}

/** The policy's dest, directive, environment and owner parts; a UsageError naming the flag when one is wrong. */
export function hostPolicy(flags: HostPolicyFlags): Omit<LocalPolicy, 'allowCommands'> {
  return {
    allowDests: allowDests(flags.allowDest),
    allowDirectives: allowDirectives(flags.allowDirective),
    allowEnv: allowEnv(flags.allowEnv),
    allowOwners: allowOwners(flags.allowOwner),
  };
}
