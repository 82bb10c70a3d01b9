// `confd-haproxy` itself: -noop, -onetime, or a long run (interval, watch, or bundles from the
// store) until stopped, re-reading its settings on each SIGHUP.
import type { Command } from 'commander';
import { withFields } from '@confd-haproxy/base';
import { runFleet, type BundleEvent } from '@confd-haproxy/fleet';
import { openStore } from '@confd-haproxy/kv';
import { runInterval, runOnce, runWatch, type PassResult } from '@confd-haproxy/renderer';
import { EXIT } from '../../common.js';
import type { Session } from '../../session.js';
import { recordPass, statusPath } from '../../status.js';
import { open, type Opened, type StoreRendererOptions } from './open.js';
import { planPass } from './plan.js';
import { readSettings, type Settings } from './settings.js';
import { logSummary } from './summary.js';

/** The last pass a run saw, and whether it ended after a stop. */
type LastPass = { pass: PassResult; afterStop: boolean } | undefined;

/** `confd-haproxy` (the run subcommand). */
export async function runSubcommand(session: Session, cmd: Command): Promise<number> {
  const o = await open(session, cmd, 'run');
  if (o.settings.flags.noop) return planPass(session, o, false);
  const lastPass = recordPasses(session, o);
  if (o.settings.flags.onetime) {
    const pass = await runOnce(o.opts);
    logSummary(o.settings.logger, pass, false);
    return pass.ok ? EXIT.OK : pass.exitCode;
  }
  await longRun(session, cmd, o);
  const last = lastPass();
  return last?.afterStop && last.pass.reloads.some((r) => !r.ok) ? EXIT.FAILED : EXIT.OK;
}

/** Every pass is kept for the exit code and, when it changed files, recorded in the status file. */
function recordPasses(session: Session, o: Opened): () => LastPass {
  const statusFile = statusPath(o.opts.stateDir!, o.opts.confdir);
  let lastPass: LastPass;
  o.passObservers.push((p) => {
    lastPass = { pass: p, afterStop: session.signals.stop.aborted };
    try {
      recordPass(statusFile, p);
    } catch (err) {
      withFields(o.settings.logger, { code: 'STATUS_WRITE_FAILED', err }).warn(`cannot write the status file ${statusFile}: ${(err as Error).message}`);
    }
  });
  return () => lastPass;
}

/** Cycles until stopped: each SIGHUP ends one, the settings (trust keys and policy too) are read again, and a new cycle renders at once. */
async function longRun(session: Session, cmd: Command, o: Opened): Promise<void> {
  const { signals } = session;
  let { settings, store } = o;
  for (;;) {
    await runCycle(settings, { ...o.opts, ...settings.base, store, signal: signals.cycle() }, o.opts.stateDir!, o.onBundle);
    await store.close().catch(() => {});
    if (signals.stop.aborted) return;
    try {
      settings = readSettings(cmd, 'run', session.io.stderr);
      signals.setLogger(settings.logger);
    } catch (err) {
      withFields(o.settings.logger, { code: 'CONFIG_RELOAD_FAILED', err }).error(`SIGHUP: ${(err as Error).message}; keeping the previous configuration`);
    }
    store = session.store = openStore(settings.storeOpts);
    settings.logger.info(`re-read the configuration: backend ${store.describe}, confdir ${settings.base.confdir}; rendering now`);
  }
}

/** One configuration cycle of a long run: until SIGHUP or a stop. */
async function runCycle(settings: Settings, opts: StoreRendererOptions, stateDir: string, onBundle?: (e: BundleEvent) => void): Promise<void> {
  const { fleet } = settings;
  if (fleet) {
    const { diffsBeforeSync, statusTtlMs, labels, statsSocket, environment } = fleet;
    await runFleet({ ...opts, labels: [...labels], trustKeys: settings.trustKeys, stateDir, diffsBeforeSync, statusTtlMs, ...(statsSocket ? { statsSocket } : {}), ...(environment ? { environment } : {}), ...(onBundle ? { onBundle } : {}) });
  } else if (settings.flags.watch) await runWatch(opts);
  else await runInterval({ ...opts, intervalMs: settings.intervalMs });
}
