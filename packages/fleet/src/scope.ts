// Which bundles an instance takes besides trust: only those pushed for its environment, and, when
// it trusts keys, only versions above the one it runs (an older signed bundle is a replay).

const ENVIRONMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Why a name is not an environment name (--environment, a bundle's environment), or undefined. */
export function environmentProblem(name: string): string | undefined {
  return ENVIRONMENT.test(name) ? undefined : 'an environment is 1 to 63 letters, digits, _ . - (starting with a letter or digit)';
}

const named = (environment: string | undefined) => (environment ? `environment "${environment}"` : 'no environment');

/** Why b was pushed for another environment than this instance's (both may be none), or undefined. */
export function foreignReason(b: { environment?: string }, environment: string | undefined): string | undefined {
  if ((b.environment ?? '') === (environment ?? '')) return undefined;
  return `pushed for ${named(b.environment)}, this instance is for ${named(environment)} (--environment)`;
}

/** Why b's version is not above `floor`, the version of the trusted bundle running (0: none), or undefined. */
export function staleReason(b: { version: number }, floor: number): string | undefined {
  if (b.version > floor) return undefined;
  return `version ${b.version} is not above the running version ${floor}: an older bundle written back (a rollback is a new push: push --rollback-to)`;
}
