// `confd-haproxy push`: --confdir (or a kept bundle, --rollback-to) becomes the next bundle
// version in the store; with --canary or --resume, the rollout is driven from here.
import type { Command } from 'commander';
import { DEFAULT_COMMAND_TIMEOUT_MS } from '@confd-haproxy/base';
import { pushConfig } from '@confd-haproxy/fleet';
import { EXIT } from '../../common.js';
import { driveAndReport, resumeRollout, rolloutOptions } from '../../rollout-flags.js';
import type { Session } from '../../session.js';
import { open } from './open.js';

/** Exit 0: pushed or unchanged (a rollout: promoted), 65: refused, 1: error or a failed rollout. */
export async function pushCommand(session: Session, cmd: Command): Promise<number> {
  const { settings, store, opts } = await open(session, cmd, 'push');
  const { flags } = settings;
  const rollout = rolloutOptions(flags);
  const drive = { store, stdout: session.io.stdout, logger: settings.logger, signal: session.signals.stop, ...(settings.signKey ? { signKey: settings.signKey } : {}), ...(flags.reportGrace ? { reportGrace: flags.reportGrace } : {}) };
  if (flags.resume) return resumeRollout(drive);
  const r = await pushConfig({
    store,
    confdir: opts.confdir,
    stateDir: opts.stateDir!,
    logger: settings.logger,
    signal: session.signals.stop,
    env: process.env,
    commandEnv: opts.commandEnv ?? [],
    prefix: opts.prefix ?? '',
    commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    ...(opts.renderBudget ? { renderBudget: opts.renderBudget } : {}),
    allowSecrets: Boolean(settings.flags.allowSecrets),
    ...(settings.signKey ? { signKey: settings.signKey } : {}),
    ...(settings.flags.environment ? { environment: settings.flags.environment } : {}),
    ...(settings.flags.rollbackTo ? { rollbackTo: settings.flags.rollbackTo } : {}),
    ...(rollout ? { rollout } : {}),
  });
  const signed = r.bundle.signature ? `, signed by key ${r.bundle.signature.keyId.slice(0, 12)}` : ', unsigned';
  const what = r.changed ? `pushed version ${r.bundle.version}` : `unchanged: the store holds these files as version ${r.bundle.version}`;
  const from = r.rolledBackTo ? ` with the files of version ${r.rolledBackTo.version}` : '';
  const env = r.bundle.environment ? ` for environment ${r.bundle.environment}` : '';
  session.io.stdout.write(`${what}${from} (${r.bundle.checksum.slice(0, 12)})${env}${signed}${r.appliedHere ? ', applied on this instance first' : ''}\n`);
  return r.changed && r.bundle.rollout ? driveAndReport(drive, r.bundle) : EXIT.OK;
}
