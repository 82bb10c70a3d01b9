// A render's limits. A template is input from someone else (a bundle signer, a confdir copied from
// elsewhere): a loop of loops or a doubling partial must cost its own render, never the process.
// Time is held by the engines: the isolated one stops its worker at the deadline (isolated.ts),
// the inline one its pass (inline.ts). Size is held here, where output grows: every loop, every
// partial, every helper's result, and the whole.
import { DEFAULT_RENDER_MAX_BYTES, DEFAULT_RENDER_TIMEOUT_MS } from '@confd-haproxy/base';
import { TemplateError, TemplateProblem } from './errors.js';

export interface RenderBudget {
  /** How long one render may compute; waiting for DNS answers between passes does not count. */
  timeoutMs: number;
  /** How many bytes one render's output may hold. */
  maxBytes: number;
}

export const DEFAULT_RENDER_BUDGET: Readonly<RenderBudget> = { timeoutMs: DEFAULT_RENDER_TIMEOUT_MS, maxBytes: DEFAULT_RENDER_MAX_BYTES };

/** A budget from what a caller gave, the defaults for the rest. */
export function renderBudget(given: Partial<RenderBudget> = {}): RenderBudget {
  return { timeoutMs: given.timeoutMs ?? DEFAULT_RENDER_BUDGET.timeoutMs, maxBytes: given.maxBytes ?? DEFAULT_RENDER_BUDGET.maxBytes };
}

/** 67108864 → "64 MiB", 1536 → "1.5 KiB", 100 → "100 bytes". */
export function formatBytes(n: number): string {
  const [unit, size] = n >= 1024 ** 2 ? ['MiB', 1024 ** 2] : n >= 1024 ? ['KiB', 1024] : ['bytes', 1];
  return `${Number((n / size).toFixed(1))} ${unit}`;
}

/** 10000 → "10 s", 250 → "250 ms". */
export const formatMs = (ms: number): string => (ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`);

export const tooLarge = (maxBytes: number): TemplateProblem =>
  new TemplateProblem('TEMPLATE_TOO_LARGE', `the output grew past ${formatBytes(maxBytes)}, the render size limit (--render-max-size); rendering stopped`);

/** A render stopped at its time limit, in the worker (isolated.ts) or in this thread (inline.ts). */
export const timedOut = (file: string, timeoutMs: number): TemplateError =>
  new TemplateError('TEMPLATE_TIMEOUT', `${file}: rendering took longer than ${formatMs(timeoutMs)}, the render time limit (--render-timeout); it was stopped`, { file });

/** A piece of output on its way: a string of more than maxBytes characters is more than maxBytes bytes. */
export function checkGrowth(text: string, maxBytes: number): void {
  if (text.length > maxBytes) throw tooLarge(maxBytes);
}

/** The finished output, in the bytes it will be written as. */
export function checkOutput(text: string, maxBytes: number): void {
  if (Buffer.byteLength(text) > maxBytes) throw tooLarge(maxBytes);
}
