// Every instance has a persistent identity: a UUID kept in <state-dir>/instance-id, made once.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The instance's UUID, created on first use (exclusive create: two processes agree on one). */
export function instanceId(stateDir: string): string {
  const file = join(stateDir, 'instance-id');
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomUUID()}\n`, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new FleetError('FLEET_STATE', `${file}: cannot create the instance identity (${(err as Error).message})`, { cause: err });
  }
  const id = readFileSync(file, 'utf8').trim();
  if (!UUID.test(id)) throw new FleetError('FLEET_STATE', `${file}: "${id.slice(0, 40)}" is not a UUID; remove the file to get a new identity`);
  return id;
}
