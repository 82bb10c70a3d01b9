// Local policy of a renderer: which commands its resources may run (--allow-command) and where they
// may write (--allow-dest, dest-policy.ts). Checked when resources load, before anything runs; a
// pushed bundle too, which is also held to the owners the instance allows (bundle-policy.ts).
import { ownerProblem } from './bundle-policy.js';
import { commandMode, commandProblems } from './command-policy.js';
import { allowDestProblems, destProblem } from './dest-policy.js';
import { STDOUT_DEST, type ResourceConfig } from './load.js';

export { realPath } from './dest-policy.js';

export interface LocalPolicy {
  /** Patterns matched word by word (command-policy.ts); empty: any command. */
  allowCommands: readonly string[];
  /** Files, and directories written with a trailing "/" (symlinks resolved); empty: any dest. */
  allowDests: readonly string[];
  /** Directives that load code or run programs a rendered file may use all the same (--allow-directive). */
  allowDirectives?: readonly string[];
  /** Environment variables a bundle's templates, and the HAProxy configuration it renders, may read (--allow-env). */
  allowEnv?: readonly string[];
  /** Owners (uid, gid) a bundle may give its dests besides the instance's own (--allow-owner). */
  allowOwners?: readonly { uid: number; gid: number }[];
}

export interface PolicyCheckOptions {
  /** The resources come from a pushed bundle: their commands run as argv words, their owners are checked too. */
  bundle?: boolean;
  /** Their commands run as argv words (a push checks a bundle as the instances will run it). */
  argv?: boolean;
}

/** Why these resources break the policy (one line per problem), or [] when they keep to it. */
export function policyProblems(resources: readonly ResourceConfig[], policy: LocalPolicy, opts: PolicyCheckOptions = {}): string[] {
  const problems: string[] = allowDestProblems(policy);
  const commands = { allowCommands: policy.allowCommands, mode: commandMode({ fromBundle: (opts.bundle ?? false) || (opts.argv ?? false), allowCommands: policy.allowCommands }) };
  for (const r of resources) {
    problems.push(...commandProblems([r], commands));
    // dest = "-" writes no file (a dry render to stdout): nothing to allow.
    const dest = r.dest === STDOUT_DEST ? undefined : destProblem(r.dest, policy);
    if (dest) problems.push(`${r.name}: ${dest}`);
    const owner = opts.bundle ? ownerProblem(r, policy.allowOwners ?? []) : undefined;
    if (owner) problems.push(`${r.name}: ${owner}`);
  }
  return problems;
}
