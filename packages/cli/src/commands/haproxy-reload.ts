// haproxy-reload: a reload_cmd for HAProxy in master-worker mode. Asks the master CLI to reload
// (listening sockets pass to the new workers: no connection is refused) and exits only when the
// new workers run (0) or HAProxy refused the configuration (1).
import { Command } from 'commander';
import { reloadHaproxy } from '@confd-haproxy/runner';
import { runProgram } from '../program.js';
import { EXIT, parseDuration } from '../common.js';
import { VERSION } from '../version.js';
import type { CommandIO } from '../common.js';

function buildProgram(): Command {
  return new Command('haproxy-reload')
    .version(VERSION, '--version', 'print the version and exit')
    .description('Seamless HAProxy reload through the master CLI; waits for the result.')
    .requiredOption('--master-socket <path>', 'the master CLI socket (haproxy -W -S <path>)')
    .option('--timeout <duration>', 'how long to wait for the new workers', '10s');
}

/** Reload and wait for the outcome. */
async function haproxyReload(cmd: Command, io: CommandIO): Promise<number> {
  const f = cmd.opts<{ masterSocket: string; timeout: string }>();
  const r = await reloadHaproxy({ masterSocket: f.masterSocket, timeoutMs: parseDuration(f.timeout, '--timeout') });
  (r.ok ? io.stdout : io.stderr).write(`haproxy-reload: ${r.message} (${r.durationMs} ms)\n`);
  return r.ok ? EXIT.OK : EXIT.FAILED;
}

/** The haproxy-reload command: argv (without node and the script) → exit code. */
export function main(argv: string[], io?: CommandIO): Promise<number> {
  return runProgram('haproxy-reload', buildProgram(), haproxyReload, argv, io);
}
