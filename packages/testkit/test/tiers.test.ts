// The suite's tiers: every test file is in exactly one, and a file's name matches what it starts.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOf, nameInTier, requireTier, startMemcached, testFiles, tierOf, type Tier } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const here = 'packages/testkit/test/tiers.test.ts';

// What a file (or a helper it imports) does that needs a tier above unit, and the HAProxy runs that need e2e.
const STARTS_SERVICE =
  /\b(?:startMemcached|startConsulDouble|startMariaDB|startReplicationSet|startGaleraCluster|startRedis|startRedisSet|startSentinel|startEtcd|startProcess|runBounded|startHAProxy|startRenderedHAProxy)\s*\(/;
// Or runs one of our bins as its own process (the unit tier runs commands in-process).
const RUNS_A_BIN = /'packages\/cli\/bin\/[a-z-]+\.js'/;
const RUNS_HAPROXY = /\bstart(?:Rendered)?HAProxy\s*\(|\bstartProcess\(\s*haproxy\b/;
// Weaker: a service binary's path, a `haproxy -c` that a shipped check_cmd runs or an `npm ci`
// (the registry) — or only data that names them (load.test.ts, trust.test.ts): enough for
// integration, not proof against unit.
const MAY_NEED_MORE_THAN_NODE = /\/usr\/s?bin\/(?:haproxy|memcached|mariadbd?|etcd|redis-server|redis-sentinel)\b|\bhaproxy -c\b|\bnpm ci\b/;

/** The file's source and that of every local module it imports, transitively. */
function sourceWithHelpers(file: string, seen = new Set<string>()): string {
  if (seen.has(file) || !existsSync(file)) return '';
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  const local = [...text.matchAll(/from '(\.{1,2}\/[^']+)'/g)].map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  return [text, ...local.map((f) => sourceWithHelpers(f, seen))].join('\n');
}

/** The tiers a file's code fits: e2e if it runs HAProxy, integration if it starts anything else, else unit. */
function tiersFitting(file: string): Tier[] {
  const text = sourceWithHelpers(join(root, file));
  if (RUNS_HAPROXY.test(text)) return ['e2e'];
  if (STARTS_SERVICE.test(text) || RUNS_A_BIN.test(text)) return ['integration'];
  return MAY_NEED_MORE_THAN_NODE.test(text) ? ['unit', 'integration'] : ['unit'];
}

const files = testFiles(root);

t.test('the repository has test files in every tier', async (t) => {
  for (const tier of ['unit', 'integration', 'e2e'] as const) t.ok(files.some((f) => tierOf(f) === tier), `${tier} has files`);
});

t.test('every test file is named for a tier and lies where npm test finds it', async (t) => {
  const include = [/^packages\/[^/]+\/test\/.+\.test\.ts$/, /^test\/.+\.test\.ts$/]; // where npm test looks (.taprc's include globs name their builds)
  const misplaced = files.filter((f) => tierOf(f) === undefined || !include.some((re) => re.test(f)));
  t.same(misplaced, [], 'name a test file x.test.ts, x.integration.test.ts or x.e2e.test.ts under packages/*/test or test/');
});

t.test('every test file is in the tier its code needs', async (t) => {
  // This file starts memcached on purpose, to see a unit test refused.
  const wrong = files
    .filter((f) => f !== here && tierOf(f) !== undefined)
    .map((f) => ({ file: f, tier: tierOf(f)!, fits: tiersFitting(f) }))
    .filter(({ tier, fits }) => !fits.includes(tier))
    .map(({ file, tier, fits }) => `${file} is ${tier} but fits ${fits.join(' or ')}: name it ${nameInTier(file, fits.at(-1)!)}`);
  t.same(wrong, [], 'unit files start nothing, integration files start services but no HAProxy, e2e files run HAProxy');
});

t.test('tierOf reads the tier from the file name alone', async (t) => {
  t.equal(tierOf('packages/kv/test/file.test.ts'), 'unit');
  t.equal(tierOf('/abs/packages/kv/test/contract-etcd.integration.test.ts'), 'integration');
  t.equal(tierOf('test/e2e/failover.e2e.test.ts'), 'e2e');
  t.equal(tierOf('x.intergration.test.ts'), undefined, 'a misspelt tier is no tier');
  t.equal(tierOf('packages/kv/test/file.test.js'), 'unit', "tsc's build of a test is in the tier of its source");
  t.equal(tierOf('x.e2e.test.js'), 'e2e');
  t.equal(buildOf('packages/kv/test/file.test.ts'), 'packages/kv/test/file.test.js', 'node-tap runs the build beside the source');
  t.equal(nameInTier('a/b/foo.integration.test.ts', 'unit'), 'foo.test.ts');
  t.equal(nameInTier('foo.test.ts', 'e2e'), 'foo.e2e.test.ts');
  t.equal(nameInTier('foo.intergration.test.ts', 'integration'), 'foo.integration.test.ts', 'a misspelt tier is replaced');
});

t.test('a unit test that starts a service is refused, naming the file and its right name', async (t) => {
  await t.rejects(startMemcached(), { code: 'WRONG_TIER', message: /tiers\.test\.ts is a unit test but starts \/usr\/bin\/memcached: name it tiers\.integration\.test\.ts/ });
  t.throws(() => requireTier('e2e', 'haproxy', '/r/test/e2e/x.integration.test.ts'), { code: 'WRONG_TIER', message: '/r/test/e2e/x.integration.test.ts is an integration test but starts haproxy: name it x.e2e.test.ts' });
  t.throws(() => requireTier('integration', 'etcd', '/r/x.intgration.test.ts'), { message: '/r/x.intgration.test.ts is in no tier but starts etcd: name it x.integration.test.ts' });
  t.doesNotThrow(() => requireTier('integration', 'etcd', '/r/x.e2e.test.ts'), 'a higher tier may start what a lower one does');
  t.doesNotThrow(() => requireTier('e2e', 'haproxy', '/r/bench/reload.mjs'), 'benchmarks and scripts are not test files');
});
