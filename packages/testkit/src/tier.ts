// The suite's tiers, named by the test file: x.test.ts needs only Node, x.integration.test.ts
// starts real services (or runs installed programs such as `haproxy -c`), x.e2e.test.ts runs HAProxy.
// npm test runs the x.test.js that tsc writes beside each x.test.ts; it is in the same tier.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { LauncherError } from './errors.js';

export const TIERS = ['unit', 'integration', 'e2e'] as const;
export type Tier = (typeof TIERS)[number];

const TEST_FILE = /^[a-z0-9][a-z0-9-]*(?:\.(integration|e2e))?\.test\.[jt]s$/;
const LOOKS_LIKE_A_TEST = /\.test\.[cm]?[jt]sx?$/;
const NOT_SOURCE = new Set(['node_modules', 'dist', '.git', '.tap', 'out']);

/** The tier a test file's name puts it in; undefined for a name that follows no tier's pattern. */
export function tierOf(file: string): Tier | undefined {
  const m = TEST_FILE.exec(basename(file));
  if (!m) return undefined;
  return (m[1] as Tier | undefined) ?? 'unit';
}

/** The file name that puts a test file in a tier (foo.test.ts or foo.intgration.test.ts -> foo.integration.test.ts). */
export function nameInTier(file: string, tier: Tier): string {
  const stem = basename(file).replace(/\.test\.[cm]?[jt]sx?$/, '').replace(/\.[^.]*$/, '');
  return tier === 'unit' ? `${stem}.test.ts` : `${stem}.${tier}.test.ts`;
}

/** tsc's build of a test (x.test.js beside x.test.ts), which node-tap runs in its place. */
export const buildOf = (file: string) => file.replace(/\.ts$/, '.js');
/** The TypeScript test a build was compiled from (the file a message should name), or the file itself. */
const sourceOf = (file: string) => (file.endsWith('.js') && existsSync(file.replace(/\.js$/, '.ts')) ? file.replace(/\.js$/, '.ts') : file);
/** A .js file is tsc's build (git ignores them under test directories), or a stale one whose source is gone. */
const isBuild = (name: string) => name.endsWith('.js');

/** Every file under root that looks like a test (whatever its tier), relative to root, sorted; tsc's builds are not listed. */
export function testFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !NOT_SOURCE.has(e.name)) walk(join(dir, e.name));
      else if (e.isFile() && LOOKS_LIKE_A_TEST.test(e.name) && !isBuild(e.name)) found.push(relative(root, join(dir, e.name)));
    }
  };
  walk(root);
  return found.sort();
}

const RANK: Record<Tier, number> = { unit: 0, integration: 1, e2e: 2 };

/**
 * Refuse to start `what` (a service or an installed program, needing tier `needs`) from a test
 * file whose name puts it in a lower tier; node-tap runs each test file as argv[1]. Processes that
 * are not test files (benchmarks, scripts) are not checked.
 */
export function requireTier(needs: Tier, what: string, running = process.argv[1] ?? ''): void {
  if (!LOOKS_LIKE_A_TEST.test(running)) return;
  const file = sourceOf(running);
  const tier = tierOf(file);
  if (tier !== undefined && RANK[tier] >= RANK[needs]) return;
  const where = tier === undefined ? 'is in no tier' : `is ${tier === 'unit' ? 'a unit' : `an ${tier}`} test`;
  throw new LauncherError('WRONG_TIER', `${file} ${where} but starts ${what}: name it ${nameInTier(file, needs)}`);
}
