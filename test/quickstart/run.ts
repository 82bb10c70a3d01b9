// Runs a quick-start script as the README does, but in a temporary copy of the repository's
// layout: the script itself copied, examples/ and packages/ linked, so its out/ is the
// temporary directory's and the clone's own out/ is left alone.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface QuickstartRun {
  result: SpawnSyncReturns<string>;
  /** A file the script wrote under out/. */
  out(name: string): string;
}

export function runQuickstart(dir: string, script: string): QuickstartRun {
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(join(root, 'scripts', script), join(dir, 'scripts', script));
  for (const linked of ['examples', 'packages', 'node_modules']) symlinkSync(join(root, linked), join(dir, linked));
  const result = spawnSync(process.execPath, [join(dir, 'scripts', script)], { encoding: 'utf8', timeout: 60_000 });
  return { result, out: (name) => readFileSync(join(dir, 'out', name), 'utf8') };
}
