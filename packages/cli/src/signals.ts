// Signals as every long-running bin treats them: SIGTERM/SIGINT stop (the work under way finishes
// within its bound), a second one exits at once, SIGHUP asks for the configuration to be re-read.
import { signalExitCode, type Logger } from '@confd-haproxy/base';
import { killRunningCommands } from '@confd-haproxy/runner';
import { removeStageFilesSync } from '@confd-haproxy/resource';

export type SignalLogger = Pick<Logger, 'info' | 'warn'>;

export interface Signals {
  /** Fires on the first SIGTERM or SIGINT. */
  readonly stop: AbortSignal;
  /** The name of the signal that stopped the process, if one did. */
  readonly stoppedBy: NodeJS.Signals | undefined;
  /** A signal that fires on the next SIGHUP (or on stop): one per configuration cycle. */
  cycle(): AbortSignal;
  setLogger(log: SignalLogger): void;
  dispose(): void;
}

const SIGNO: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** Exit now: no running command's process group and no stage file is left behind. */
function exitAtOnce(sig: NodeJS.Signals): never {
  killRunningCommands();
  removeStageFilesSync();
  process.exit(signalExitCode(SIGNO[sig] ?? 15));
}

/**
 * `finishing` names the work a first SIGTERM lets finish ("a running reload finishes within its
 * timeout" for the renderer; a checker's probes and writes are bounded by its own timeout).
 */
export function trapSignals(bin: string, finishing = 'a running reload finishes within its timeout'): Signals {
  const stop = new AbortController();
  let hangup = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  let log: SignalLogger | undefined;
  const onStop = (sig: NodeJS.Signals) => {
    if (stoppedBy) {
      process.stderr.write(`${bin}: second ${sig}: exiting at once\n`);
      exitAtOnce(sig);
    }
    stoppedBy = sig;
    const text = `${sig}: stopping; ${finishing} (${sig} again exits at once)`;
    if (log) log.info(text);
    else process.stderr.write(`${bin}: ${text}\n`);
    stop.abort();
  };
  const onHup = () => {
    log?.info('SIGHUP: re-reading the configuration');
    hangup.abort();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  return {
    stop: stop.signal,
    get stoppedBy() {
      return stoppedBy;
    },
    cycle() {
      hangup = new AbortController();
      return AbortSignal.any([stop.signal, hangup.signal]);
    },
    setLogger(l) {
      log = l;
    },
    dispose() {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
    },
  };
}
