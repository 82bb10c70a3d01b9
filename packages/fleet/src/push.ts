// `confd-haproxy push`: the confdir's conf.d and templates become the next bundle version. A bundle
// that does not load or render is refused. When the state dir belongs to an instance that takes its
// configuration from the store, the push applies the bundle there first (a real pass: check_cmd,
// swap, reload) and publishes only if that worked; that instance then adopts its own push without
// a second pass, so the push reloads the pushing host once. A rollback (--rollback-to) is a push
// too: the files of a bundle kept under the state dir, published as the next version.
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_COMMAND_TIMEOUT_MS } from '@confd-haproxy/base';
import type { KVInfo, KVReader, KVWatcher, KVWriter } from '@confd-haproxy/kv';
import { oneShot, withRenderer, type RendererLogger, type RendererOptions } from '@confd-haproxy/renderer';
import { appliedOf, bundleDir, keptBundleFiles, materializeBundle, publishBundle, readApplied, readBundleFiles, writeApplied, type Bundle, type BundleFiles } from './bundle.js';
import { FleetError } from './errors.js';
import { instanceId } from './identity.js';
import { resolveCanaries } from './rollout-push.js';
import type { JudgeRules, Rollout } from './rollout.js';
import { findSecrets } from './secrets.js';
import { readFleet } from './status.js';
import { privateStateDir } from './state-dir.js';

export interface PushOptions {
  /** Read and watched by the pass that tries the bundle, written with the bundle. */
  store: KVReader & KVWatcher & KVWriter & KVInfo;
  /** Holds the conf.d/ and templates/ to push. */
  confdir: string;
  /** The pusher's identity (and, when an instance runs there, where the bundle is applied first). */
  stateDir: string;
  logger: RendererLogger;
  signal: AbortSignal;
  env?: Record<string, string | undefined>;
  /** Names of env that check_cmd and reload_cmd see besides the defaults (--command-env). */
  commandEnv?: readonly string[];
  prefix?: string;
  commandTimeoutMs?: number;
  /** The render budget the trial pass renders within (--render-timeout, --render-max-size). */
  renderBudget?: RendererOptions['renderBudget'];
  /** Sign the bundle with this Ed25519 key (push --sign-key). */
  signKey?: KeyObject;
  /** Push files that look like they hold credentials (push --allow-secrets). */
  allowSecrets?: boolean;
  /** The environment the bundle is for (push --environment); instances adopt only bundles for theirs. */
  environment?: string;
  /** Push the files of this bundle kept under stateDir/bundles/ (`3`, or `3-1a2b3c`) instead of confdir's (push --rollback-to). */
  rollbackTo?: string;
  /** A canary rollout (push --canary): who takes the bundle first, the judge rules, the waves. */
  rollout?: { canary: string; judge: JudgeRules; waves: number[] };
}

export interface PushResult {
  bundle: Bundle;
  /** False: the store already holds these exact files. */
  changed: boolean;
  /** Applied on this host's instance before it was published. */
  appliedHere: boolean;
  /** With rollbackTo: the kept bundle whose files were pushed. */
  rolledBackTo?: { version: number; checksum: string };
}

/** What a push publishes: confdir's conf.d and templates, or the files of a kept bundle. */
function filesToPush(opts: PushOptions): { files: BundleFiles; from: string; rolledBackTo?: { version: number; checksum: string } } {
  if (!opts.rollbackTo) return { files: readBundleFiles(opts.confdir), from: opts.confdir };
  const { files, ...kept } = keptBundleFiles(opts.stateDir, opts.rollbackTo);
  return { files, from: `${bundleDir(opts.stateDir, kept)} (--rollback-to ${opts.rollbackTo})`, rolledBackTo: kept };
}

export async function pushConfig(opts: PushOptions): Promise<PushResult> {
  privateStateDir(opts.stateDir, { create: true });
  const { files, from, rolledBackTo } = filesToPush(opts);
  if (!opts.allowSecrets) refuseSecrets(from, files);
  const id = instanceId(opts.stateDir);
  const rollout = opts.rollout ? await rolloutOf(opts) : undefined;
  // A canary rollout reaches the canaries first: the pusher's own instance is no exception.
  const instanceHere = !rollout && readApplied(opts.stateDir) !== undefined;
  const rendererOpts = {
    store: opts.store,
    logger: opts.logger,
    signal: opts.signal,
    env: opts.env ?? {},
    commandEnv: opts.commandEnv ?? [],
    // Run the way every instance will run it: a bundle's commands are argv words, never a shell.
    argvCommands: true,
    prefix: opts.prefix ?? '',
    commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    ...(opts.renderBudget ? { renderBudget: opts.renderBudget } : {}),
  };
  let applied: { dir: string; checksum: string } | undefined;
  const refuse = (errors: Error[], what: string): never => {
    throw new FleetError('FLEET_BUNDLE_REFUSED', `${from}: not pushed, it ${what}:\n${errors.map((e) => `  ${e.message}`).join('\n')}`, { cause: errors[0] });
  };
  const prepare = async (b: Bundle) => {
    if (instanceHere) {
      // Relative dests resolve against the instance's --confdir, which is where we push from.
      const dir = materializeBundle(b.files, bundleDir(opts.stateDir, b));
      const pass = await withRenderer(oneShot({ ...rendererOpts, confdir: dir, destDir: opts.confdir }), (r) => r.pass());
      if (!pass.ok) refuse(pass.errors, 'failed on this instance (nothing was published)');
      applied = { dir, checksum: b.checksum };
      return;
    }
    const tmp = mkdtempSync(join(tmpdir(), 'confd-haproxy-push-'));
    try {
      materializeBundle(b.files, join(tmp, 'bundle'));
      const plan = await withRenderer(oneShot({ ...rendererOpts, confdir: join(tmp, 'bundle'), destDir: opts.confdir }), (r) => r.pass(undefined, { noop: true }));
      if (!plan.ok) refuse(plan.errors, 'does not load or render');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  };
  const { bundle, changed } = await publishBundle(opts.store, files, { id, host: hostname() }, prepare, { signKey: opts.signKey, environment: opts.environment, ...(rollout ? { rollout } : {}) });
  // Recorded only once published: the instance then adopts its own push without a second pass.
  const appliedHere = changed && applied?.checksum === bundle.checksum;
  if (appliedHere) writeApplied(opts.stateDir, appliedOf(bundle, applied!.dir));
  return { bundle, changed, appliedHere, ...(rolledBackTo ? { rolledBackTo } : {}) };
}

/** The rollout to sign into the bundle: --canary resolved against the instances publishing a status now. */
async function rolloutOf(opts: PushOptions): Promise<Rollout> {
  const { canary, judge, waves } = opts.rollout!;
  const statuses = (await readFleet(opts.store, opts.signal)).rows.map((r) => r.status);
  return { canaries: resolveCanaries(canary, statuses), judge, waves };
}

/** A bundle is readable by every store reader: credentials go to files on the hosts or the environment. */
function refuseSecrets(confdir: string, files: Record<string, string>): void {
  const found = findSecrets(files);
  if (!found.length) return;
  const lines = found.map((f) => `  ${f.file}:${f.line}: ${f.what}`).join('\n');
  throw new FleetError('FLEET_BUNDLE_REFUSED', `${confdir}: not pushed, it looks like it holds credentials (every store reader would see them; keep them in files on the hosts or in the environment, or push with --allow-secrets):\n${lines}`);
}
