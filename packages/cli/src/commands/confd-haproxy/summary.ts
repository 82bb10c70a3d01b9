// The one line -onetime and plan end with, as text and as log fields.
import type { Logger } from 'pino';
import type { PassResult } from '@confd-haproxy/renderer';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "3 resources: 1 changed, 2 in sync; 1 reload". */
export function summaryLine(pass: PassResult, planning: boolean): { msg: string; fields: Record<string, number> } {
  const failed = pass.resources.filter((r) => r.error).length + (pass.resources.length === 0 ? pass.errors.length : 0);
  const changed = pass.resources.filter((r) => r.changed && !r.error).length;
  const inSync = pass.resources.filter((r) => !r.changed && !r.error).length;
  const reloads = pass.reloads.filter((r) => r.ok).length;
  const parts = [`${changed} ${planning ? 'would change' : 'changed'}`, `${inSync} in sync`, ...(failed ? [`${failed} failed`] : [])];
  const msg = `${plural(pass.resources.length, 'resource')}: ${parts.join(', ')}${planning ? '' : `; ${plural(reloads, 'reload')}`}`;
  return { msg, fields: { resources: pass.resources.length, changed, inSync, failed, reloads } };
}

export function logSummary(logger: Logger, pass: PassResult, planning: boolean): void {
  const { msg, fields } = summaryLine(pass, planning);
  logger.info({ summary: fields }, msg);
}
