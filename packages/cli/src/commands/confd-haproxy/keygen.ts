// `confd-haproxy keygen`: an Ed25519 key pair for signing bundles.
import type { Command } from 'commander';
import { generatePushKey } from '@confd-haproxy/fleet';
import { EXIT } from '../../common.js';
import type { Session } from '../../session.js';

/** Exit 0: written, 65: a key exists already. */
export async function keygenCommand(session: Session, cmd: Command): Promise<number> {
  const k = generatePushKey(cmd.opts<{ out: string }>().out);
  session.io.stdout.write(`wrote ${k.keyFile} (keep it secret) and ${k.pubFile} (key ${k.keyId.slice(0, 12)})\n`);
  return EXIT.OK;
}
