// What the isolated engine (isolated.ts) and its render worker (render-worker.ts) say to each other.
// Everything here crosses a thread as a structured clone: plain data, no functions.
import type { TemplateData } from './engine.js';
import type { TemplateErrorCode } from './errors.js';
import type { ServiceData } from './service.js';

/** The worker's workerData: one engine's settings. */
export interface WorkerSettings {
  templatesDir: string;
  env: Record<string, string>;
  /** The names `getenv` may read (a bundle's --allow-env); absent: every name of env. */
  envNames?: string[];
  maxBytes: number;
}

/**
 * What `entry` did during a render, replayed on the caller's EntryRecovery afterwards, in order.
 * An accepted value is always its key's value in the render's data, so only the key travels.
 */
export type EntryEvent =
  | { accepted: string }
  | { refused: { key: string; message: string; fallback: 'last-good' | 'left-out' } }
  /** A catalog item the guard refused: the render ran again without it (engine.ts, CatalogRecovery). */
  | { catalogRefused: { key: string; message: string } };

/** A TemplateError as data. */
export interface ErrorData {
  code: TemplateErrorCode;
  message: string;
  file?: string | undefined;
  line?: number | undefined;
  column?: number | undefined;
  key?: string | undefined;
}

export type ToWorker =
  /** lastGood: the last good entry value of each data key that now holds another value, when the caller recovers bad entries. */
  /** conflicts: why a key's good value must still not render (EntryRecovery.conflict), decided by the caller; catalog: recover refused catalog items. */
  | { type: 'render'; id: number; src: string; data: TemplateData; lastGood?: Map<string, string>; conflicts?: Map<string, string>; services?: ServiceData; catalog?: boolean }
  | { type: 'answers'; id: number; answers: ReadonlyArray<readonly [string, unknown]> }
  | { type: 'reset' };

export type FromWorker =
  /** The worker has loaded: sent once, before any answer. */
  | { type: 'ready'; id?: undefined }
  /** The render waits for these DNS lookups (its time does not run meanwhile). */
  | { type: 'lookups'; id: number; ids: string[] }
  | { type: 'rendered'; id: number; text: string; events: EntryEvent[] }
  | { type: 'failed'; id: number; error: ErrorData; events: EntryEvent[] };
