// `confd-haproxy plan`, and a run's -noop: print the diffs, change nothing.
import type { Command } from 'commander';
import { planAll } from '@confd-haproxy/renderer';
import { EXIT } from '../../common.js';
import type { Session } from '../../session.js';
import { open, type Opened } from './open.js';
import { logSummary } from './summary.js';

/** plan exits 2 when changes are pending; -noop keeps confd's 0. */
export async function planPass(session: Session, o: Opened, forPlan: boolean): Promise<number> {
  const plan = await planAll(o.opts);
  for (const r of plan.resources) if (r.diff) session.io.stdout.write(r.diff);
  logSummary(o.settings.logger, plan, true);
  if (!plan.ok) return plan.exitCode;
  return forPlan && plan.pending ? EXIT.PENDING : EXIT.OK;
}

/** `confd-haproxy plan`. */
export async function planCommand(session: Session, cmd: Command): Promise<number> {
  return planPass(session, await open(session, cmd, 'plan'), true);
}
