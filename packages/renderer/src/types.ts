// The renderer's types: what a caller passes and what a pass reports. Start reading the renderer
// here; this file imports nothing local, and every other file points down to it.
import type { Logger } from '@confd-haproxy/base';
import type { KVInfo, KVReader, KVWatcher } from '@confd-haproxy/kv';
import type { LocalPolicy, ResourceResult } from '@confd-haproxy/resource';
import type { CommandResult } from '@confd-haproxy/runner';
import type { IsolatedEngine, RenderBudget } from '@confd-haproxy/template';

/** An entry (or a catalog item) a pass refused: what was rendered instead, and why. */
export interface BadEntry {
  resource: string;
  /** A KV key, or a catalog item's (`service:web@dc1/node/id`, `services:/web`). */
  key: string;
  /** "<key>: entry: <what is wrong>", or "service "web" instance "web-9" on node "n1": <what is wrong>". */
  message: string;
  /** What was rendered instead: the key's last good value, or nothing. */
  fallback: 'last-good' | 'left-out' | 'kept';
  /** A KV entry read through `entry`, or a catalog instance (or listed service), always left out. */
  source: 'entry' | 'catalog';
}

export type RendererLogger = Logger;

export interface RendererOptions {
  /** The renderer only reads and watches: any backend with these capabilities drives it. */
  store: KVReader & KVWatcher & KVInfo;
  /** Holds conf.d/ and templates/. */
  confdir: string;
  /** Where relative dests resolve (default: the confdir). */
  destDir?: string;
  /** The global -prefix. */
  prefix?: string;
  logger: RendererLogger;
  signal: AbortSignal;
  /** For templates' getenv; commands see only its names that commandEnv keeps. */
  env?: Record<string, string | undefined>;
  /** Names of env that check_cmd and reload_cmd see besides PATH, HOME, LANG, LC_*, TZ, TMPDIR and HAPROXY_* (--command-env). */
  commandEnv?: readonly string[];
  /** Commands run as argv words, never through a shell, as a bundle's do (push tries a bundle this way; `bundle` implies it). */
  argvCommands?: boolean;
  commandTimeoutMs?: number;
  /** How long one render may compute and how large its output may grow (--render-timeout, --render-max-size). */
  renderBudget?: Partial<RenderBudget>;
  /** Quiescence in watch mode. */
  wait?: { minMs: number; maxMs: number };
  /** Where each key's last good `entry` value is kept across restarts (default: only in memory). */
  stateDir?: string;
  /** Watch mode: after the store reset, render only once its data was stable this long (ms; 0: at once). Default 500. */
  resetHoldMs?: number;
  /** Watch mode: the back-off between failed store reads (default 200 ms doubling up to 1 s). */
  watchBackoff?: { baseMs: number; maxMs: number };
  noop?: boolean;
  syncOnly?: boolean;
  /** Render data a store without a known leader answered with (default: refuse it). */
  allowStale?: boolean;
  keepStageFile?: boolean;
  /** Commands and dest files resources may use (--allow-command, --allow-dest); empty lists allow any. */
  policy?: LocalPolicy;
  /**
   * conf.d and templates come from a pushed bundle: its commands run as argv words, never through a
   * shell; src only from its own templates, getenv and
   * "${NAME}" only for --allow-env names, owners only the instance's or --allow-owner ones, and no
   * directive that loads code or runs a program unless --allow-directive names it.
   */
  bundle?: boolean;
  /** Called after every pass (tests, status, metrics). */
  onPass?: (pass: PassResult) => void;
  /** Called after every answer or failure of a store watch (liveness, metrics). */
  onWatch?: (event: { prefix: string; ok: boolean; error?: string }) => void;
  /** Where dest = "-" writes (default: process.stdout). */
  stdout?: NodeJS.WritableStream;
  /**
   * A render worker to use instead of starting one, from createRenderEngine with the same options;
   * its caller closes it (an adoption's pass and the watch after it share one).
   */
  engine?: IsolatedEngine;
}

export interface PassResult {
  ok: boolean;
  /** 0 ok · 1 job failed · 65 bad input (resource file, template, KV data). */
  exitCode: number;
  /** Some resource would change (noop/plan) or changed. */
  pending: boolean;
  resources: ResourceResult[];
  reloads: CommandResult[];
  errors: Error[];
  /** Entries `entry` refused this pass (each also in `errors`); the rest of their file rendered. */
  badEntries: BadEntry[];
  /** A runtime-only pass: the resources it rendered and left for the next full pass (they need a reload, or failed). */
  deferred?: string[];
}
