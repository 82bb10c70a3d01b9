// Two checks the agent makes around a pass, as functions of their inputs: what a bundle asks for
// against the local policy, and what a finished pass changes in the instance's status.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PassResult } from '@confd-haproxy/renderer';
import { loadResources, policyProblems, ResourceError, type LocalPolicy } from '@confd-haproxy/resource';
import type { InstanceStatus } from './status.js';

const sha = (path: string) => {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return '';
  }
};

/**
 * The local policy's objections to a materialized bundle in dir, its commands read as argv words,
 * and what no bundle may do; none when it does not load otherwise (the pass says why).
 */
export async function bundlePolicyProblem(dir: string, opts: { prefix: string; destDir: string; policy: LocalPolicy }): Promise<string | undefined> {
  try {
    const resources = await loadResources({ confdir: dir, prefix: opts.prefix, destDir: opts.destDir, bundle: true });
    const problems = policyProblems(resources, opts.policy, { bundle: true });
    return problems.length ? problems.join('; ') : undefined;
  } catch (err) {
    if (err instanceof ResourceError) return err.code === 'RESOURCE_NOT_ALLOWED' ? err.message.split('\n').join('; ') : undefined;
    throw err;
  }
}

/** A pass's dest checksums (when a dest changed, since when) and its outcome, into status. */
export function recordPass(status: InstanceStatus, p: PassResult): void {
  let changed = false;
  for (const r of p.resources) {
    const sum = sha(r.dest);
    if (sum && status.dests[r.resource] !== sum) {
      status.dests[r.resource] = sum;
      changed = true;
    }
  }
  if (changed) status.changedAt = new Date().toISOString();
  status.last = { at: new Date().toISOString(), ok: p.ok, reloaded: p.reloads.some((x) => x.ok), ...(p.ok ? {} : { error: p.errors[0]?.message.split('\n')[0] ?? 'failed' }) };
}
