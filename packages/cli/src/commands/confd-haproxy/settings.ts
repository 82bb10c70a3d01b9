// A subcommand's settings: the command line and confd.toml, every flag checked once, then frozen.
// A run reads them again on SIGHUP; nothing downstream re-checks or changes them.
import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { DEFAULT_COMMAND_TIMEOUT } from '@confd-haproxy/base';
import { readSignKey, type TrustedKey } from '@confd-haproxy/fleet';
import type { RendererOptions } from '@confd-haproxy/renderer';
import { mergedOpts } from '../../argv.js';
import { createLogger, parseDuration, parseLogFormat, parseLogLevel, UsageError } from '../../common.js';
import { instanceLabels } from '../../rollout-flags.js';
import { storeFlagValues, storeOptionsFromFlags } from '../../store-flags.js';
import { applyConfigFile } from './config-file.js';
import { commandEnvNames, diffsBeforeSyncFlag, environmentFlag, localTrust, parseWait, renderBudgetFlags, stateDirFlag } from './flag-checks.js';
import type { Flags, Mode } from './flags.js';

/** --config-from-store's own settings (run only). */
export interface FleetSettings {
  readonly diffsBeforeSync: number;
  readonly statusTtlMs: number;
  readonly labels: readonly string[];
  readonly statsSocket?: string;
  readonly environment?: string;
}

/** The settings of one configuration cycle: the command line, the config file, checked. */
export interface Settings {
  readonly flags: Readonly<Flags>;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Everything but the store and the signal. */
  readonly base: Readonly<Omit<RendererOptions, 'store' | 'signal'>>;
  readonly storeOpts: ReturnType<typeof storeOptionsFromFlags>;
  /** --trust-key files, read (run only; empty otherwise). */
  readonly trustKeys: readonly TrustedKey[];
  /** push --sign-key, read. */
  readonly signKey?: KeyObject;
  /** With run --config-from-store. */
  readonly fleet?: FleetSettings;
  /** status --wait-converged, 0 without it. */
  readonly waitConvergedMs: number;
}

/** Read, check and freeze the settings of subcommand `mode`; a bad flag throws a UsageError naming it. */
export function readSettings(cmd: Command, mode: Mode, stderr: NodeJS.WritableStream): Settings {
  const flags = Object.freeze(applyConfigFile(mergedOpts<Flags>(cmd), cmd));
  const logger = createLogger({ format: parseLogFormat(flags.logFormat ?? 'text'), level: flags.debug ? 'debug' : parseLogLevel(flags.logLevel ?? 'info'), stream: stderr });
  runModeFlags(flags, mode);
  const intervalMs = parseDuration(flags.interval ?? '600', '--interval', 's');
  if (intervalMs <= 0) throw new UsageError('--interval must be above 0');
  const trust = mode === 'run' ? localTrust(flags) : undefined;
  if (flags.environment !== undefined) environmentFlag(flags, mode);
  const signKey = mode === 'push' && flags.signKey ? readSignKey(flags.signKey) : undefined;
  const parsed = {
    confdir: flags.confdir ?? '/etc/confd',
    prefix: flags.prefix ?? '',
    logger,
    env: process.env,
    commandEnv: commandEnvNames(flags.commandEnv ?? []),
    commandTimeoutMs: parseDuration(flags.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT, '--command-timeout', 's'),
    renderBudget: renderBudgetFlags(flags),
    wait: parseWait(flags.wait ?? '200ms:2s'),
    noop: Boolean(flags.noop),
    syncOnly: Boolean(flags.syncOnly),
    keepStageFile: Boolean(flags.keepStageFile),
    allowStale: Boolean(flags.allowStale),
    resetHoldMs: parseDuration(flags.resetHold ?? '500ms', '--reset-hold', 's'),
    // Always set: a SIGHUP that drops every --allow-* flag must drop the policy too (empty lists allow any).
    policy: trust?.policy ?? { allowCommands: [], allowDests: [] },
  };
  const fleet = mode === 'run' && flags.configFromStore ? fleetSettings(flags) : undefined;
  const waitConvergedMs = flags.waitConverged ? parseDuration(flags.waitConverged, '--wait-converged', 's') : 0;
  const storeOpts = storeOptionsFromFlags(storeFlagValues(flags));
  // Last: the state dir is made only once every other flag is known to be good.
  const base = Object.freeze({ ...parsed, stateDir: stateDirFlag(flags, mode) });
  return Object.freeze({ flags, logger, intervalMs, base, storeOpts, trustKeys: trust?.trustKeys ?? [], waitConvergedMs, ...(signKey ? { signKey } : {}), ...(fleet ? { fleet } : {}) });
}

/** --onetime, --watch and --config-from-store pick how a run runs: at most one of them. */
function runModeFlags(flags: Flags, mode: Mode): void {
  const modes = [flags.onetime, flags.watch].filter(Boolean).length;
  if (modes > 1) throw new UsageError('--onetime and --watch exclude each other');
  if (flags.configFromStore && (flags.onetime || flags.noop) && mode === 'run') throw new UsageError('--config-from-store runs as a watcher: it excludes --onetime and --noop (use plan/status)');
}

function fleetSettings(flags: Flags): FleetSettings {
  return Object.freeze({
    diffsBeforeSync: diffsBeforeSyncFlag(flags),
    statusTtlMs: parseDuration(flags.statusTtl ?? '15s', '--status-ttl', 's'),
    labels: instanceLabels(flags),
    ...(flags.statsSocket ? { statsSocket: flags.statsSocket } : {}),
    ...(flags.environment ? { environment: flags.environment } : {}),
  });
}
