import { readFileSync } from 'node:fs';
import { CheckerError } from './errors.js';

/** A kind's configuration file (db.conf, galera.toml) as text; one that cannot be read is bad configuration (exit 65). */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CheckerError('CHECKER_CONFIG', `${file}: cannot read (${(err as Error).message})`, { cause: err });
  }
}
