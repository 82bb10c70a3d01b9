// `confd-haproxy status`: each resource's last pass and whether dest is in sync; with --fleet,
// every instance that publishes its status.
import type { Command } from 'commander';
import { fleetTable, readFleet } from '@confd-haproxy/fleet';
import { sleep, type KVStore } from '@confd-haproxy/kv';
import { planAll } from '@confd-haproxy/renderer';
import { EXIT } from '../../common.js';
import type { Session } from '../../session.js';
import { readStatus, statusPath, statusTable } from '../../status.js';
import { open } from './open.js';
import type { Settings } from './settings.js';

/** Exit 0: in sync, 2: a dest differs, 1: an error or a bad entry. */
export async function statusCommand(session: Session, cmd: Command): Promise<number> {
  const { settings, store, opts } = await open(session, cmd, 'status');
  const { flags } = settings;
  if (flags.fleet || flags.waitConverged) return fleetStatus(session, store, settings);
  const plan = await planAll(opts);
  const recorded = readStatus(statusPath(opts.stateDir!, opts.confdir));
  const rows = plan.resources.map((r) => {
    const bad = plan.badEntries.filter((b) => b.resource === r.resource).map((b) => `${b.message} (${b.fallback})`);
    return {
      ...(recorded[r.resource] ?? { resource: r.resource, dest: r.dest }),
      inSync: r.error ? undefined : !r.changed,
      ...(r.error ? { error: r.error.message.split('\n')[0] } : {}),
      badEntries: bad,
    };
  });
  const isBadEntry = (e: Error) => plan.badEntries.some((b) => (e as { key?: string }).key === b.key && e.message === `${b.resource}: ${b.message}`);
  for (const e of plan.errors.filter((e) => !plan.resources.some((r) => r.error === e) && !isBadEntry(e))) rows.push({ resource: '-', dest: '-', inSync: undefined, error: e.message, badEntries: [] });
  session.io.stdout.write(flags.json ? `${JSON.stringify(rows, null, 2)}\n` : statusTable(rows));
  return rows.some((r) => r.error || r.badEntries.length) ? EXIT.FAILED : rows.some((r) => r.inSync === false) ? EXIT.PENDING : EXIT.OK;
}

/** status --fleet: the table (or JSON); with --wait-converged, poll until converged or the time is up. */
async function fleetStatus(session: Session, store: KVStore, settings: Settings): Promise<number> {
  const { flags, waitConvergedMs } = settings;
  const signal = session.signals.stop;
  const deadline = Date.now() + waitConvergedMs;
  let view = await readFleet(store, signal);
  while (!view.converged && Date.now() < deadline && !signal.aborted) {
    await sleep(Math.min(500, Math.max(0, deadline - Date.now())), signal).catch(() => {});
    view = await readFleet(store, signal);
  }
  session.io.stdout.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : fleetTable(view));
  if (view.converged) return EXIT.OK;
  if (waitConvergedMs > 0) {
    session.io.stderr.write(`confd-haproxy: the fleet did not converge within ${flags.waitConverged}\n`);
    return EXIT.FAILED;
  }
  return EXIT.PENDING;
}
