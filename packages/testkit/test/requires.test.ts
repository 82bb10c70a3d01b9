// npm test installs what the tests run from one list, which each launcher adds its own to.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as testkit from '@confd-haproxy/testkit';
import { REQUIRES, type Requirement } from '@confd-haproxy/testkit';

const src = fileURLToPath(new URL('../src/', import.meta.url));

// Files that arrive with a listed package (as its dependency) or with every Debian system.
const COMES_WITH = new Set(['/usr/bin/mariadb', '/usr/bin/redis-cli', '/usr/bin/wsrep_sst_rsync', '/usr/bin/wsrep_sst_common', '/usr/bin/setpriv']);

t.test("every launcher's requirements and the tools are in the list npm test installs from", async (t) => {
  const lists = Object.entries(testkit).filter(([name]) => name.endsWith('_REQUIRES'));
  t.ok(lists.length >= 7, lists.map(([name]) => name).join(', '));
  const paths = new Set(REQUIRES.map((r) => r.path));
  for (const [list, reqs] of lists) for (const r of reqs as Requirement[]) t.ok(paths.has(r.path), `${list}: ${r.name} (${r.path}) is in REQUIRES (packages/testkit/src/requires.ts)`);
});

t.test('each path is listed once, so a missing one is named once', async (t) => {
  const paths = REQUIRES.map((r) => r.path);
  t.same(paths, [...new Set(paths)]);
});

t.test('every file a launcher runs is installed by npm test or comes with what it installs', async (t) => {
  const named = readdirSync(src)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...readFileSync(src + f, 'utf8').matchAll(/^const [A-Z0-9_]+ = '(\/[^':]+)';$/gm)].map((m) => ({ file: f, path: m[1]! })));
  t.ok(named.length > 0, 'the launchers name their files in constants');
  const listed = new Set(REQUIRES.map((r) => r.path));
  const unlisted = named.filter(({ path }) => !listed.has(path) && !COMES_WITH.has(path)).map(({ file, path }) => `${file}: ${path}`);
  t.same(unlisted, [], "declare each in the launcher's <KIND>_REQUIRES (name, path, Debian package) and add that to REQUIRES in requires.ts");
});

t.test('every requirement names an absolute path and a Debian package', async (t) => {
  for (const r of REQUIRES) {
    t.match(r.path, /^\//, `${r.name}: absolute path`);
    t.match(r.pkg, /^[a-z0-9][a-z0-9+.-]+$/, `${r.name}: a Debian package name`);
  }
});
