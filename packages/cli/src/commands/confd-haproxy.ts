// confd-haproxy: the renderer's bin. Parses confd's flags (one or two dashes), runs the subcommand
// they name (each in its own file under confd-haproxy/) and returns its exit code.
import type { Command } from 'commander';
import { EXIT, processIO, type CommandIO } from '../common.js';
import { parseArgv } from '../program.js';
import type { Session } from '../session.js';
import { trapSignals } from '../signals.js';
import { keygenCommand } from './confd-haproxy/keygen.js';
import { planCommand } from './confd-haproxy/plan.js';
import { buildProgram, type Subcommand } from './confd-haproxy/program.js';
import { pushCommand } from './confd-haproxy/push.js';
import { runSubcommand } from './confd-haproxy/run.js';
import { statusCommand } from './confd-haproxy/status.js';
import { migrateCommand } from './migrate.js';

const SUBCOMMANDS: Record<Subcommand, (session: Session, cmd: Command) => Promise<number>> = {
  run: runSubcommand,
  plan: planCommand,
  status: statusCommand,
  push: pushCommand,
  keygen: keygenCommand,
  migrate: migrateCommand,
};

/** The confd-haproxy command: argv (without node and the script) → exit code. Runs nothing on import. */
export async function main(argv: string[], io: CommandIO = processIO()): Promise<number> {
  const session: Session = { io, signals: trapSignals('confd-haproxy') };
  let code: number = EXIT.OK;
  const program = buildProgram(async (cmd, name) => {
    code = await SUBCOMMANDS[name](session, cmd);
  });
  try {
    return (await parseArgv('confd-haproxy', program, argv, io)) ?? code;
  } finally {
    await session.store?.close().catch(() => {});
    session.observer?.close();
    session.signals.dispose();
  }
}
