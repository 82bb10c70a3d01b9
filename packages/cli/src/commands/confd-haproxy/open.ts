// What every subcommand but keygen and migrate starts with: its settings, its store, the
// renderer's options and, with --listen, the health and metrics endpoints.
import type { Command } from 'commander';
import type { BundleEvent } from '@confd-haproxy/fleet';
import { openStore, type KVStore } from '@confd-haproxy/kv';
import type { PassResult, RendererOptions } from '@confd-haproxy/renderer';
import type { Session } from '../../session.js';
import type { Mode } from './flags.js';
import { readSettings, type Settings } from './settings.js';

/** The renderer's options with the whole store: --config-from-store also writes and locks (its status). */
export type StoreRendererOptions = RendererOptions & { store: KVStore };

/** Told of every pass the renderer finishes, in the order they were added. */
export type PassObserver = (pass: PassResult) => void;

/** A subcommand opened: its settings, its store and the renderer's options. */
export interface Opened {
  readonly settings: Settings;
  readonly store: KVStore;
  /** Its onPass tells every one of passObservers. */
  readonly opts: StoreRendererOptions;
  /** The metrics (with --listen) first; a run adds its own. */
  readonly passObservers: PassObserver[];
  readonly onBundle?: (e: BundleEvent) => void;
}

/** Read the settings, open the store and, with --listen, serve the health and metrics endpoints. */
export async function open(session: Session, cmd: Command, mode: Mode): Promise<Opened> {
  const settings = readSettings(cmd, mode, session.io.stderr);
  session.signals.setLogger(settings.logger);
  const store = (session.store = openStore(settings.storeOpts));
  const passObservers: PassObserver[] = [];
  const onPass = (p: PassResult) => {
    for (const observe of passObservers) observe(p);
  };
  const opts: StoreRendererOptions = { ...settings.base, store, signal: session.signals.stop, stdout: session.io.stdout, onPass };
  settings.logger.info(`backend ${store.describe}, confdir ${opts.confdir}`);
  if (!settings.flags.listen) return { settings, store, opts, passObservers };
  // prom-client and the HTTP server load only for --listen.
  const [{ rendererMetrics }, { newRegistry, startObserver }] = await Promise.all([import('../../metrics.js'), import('../../observe.js')]);
  const registry = newRegistry();
  const m = rendererMetrics(registry, { staleAfterMs: settings.flags.watch ? 3 * 60_000 : 3 * settings.intervalMs + 60_000 });
  passObservers.push(m.onPass);
  opts.onWatch = m.onWatch;
  session.observer = await startObserver({ listen: settings.flags.listen, registry, health: m.health, ready: m.ready });
  settings.logger.info(`serving /livez, /healthz, /readyz and /metrics on ${settings.flags.listen}`);
  return { settings, store, opts, passObservers, onBundle: m.onBundle };
}
