// The README's threat model names, for each attacker, the tests that show what they cannot do:
// each name must be a test file of the suite, so a renamed or deleted test cannot leave a row
// pointing at nothing.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testFiles, tierOf } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

/** The threat model table's rows: who, and the test names in its "shown by" column. */
function rows(): { who: string; shownBy: string[] }[] {
  const section = readme.slice(readme.indexOf('## Threat model'));
  const table = section.slice(section.indexOf('| who | can | cannot | shown by |'));
  const lines = table.split('\n').slice(2);
  const body = lines.slice(0, lines.findIndex((l) => !l.startsWith('|')));
  return body.map((line) => {
    const cells = line.split(' | ');
    return { who: cells[0]!.replace(/^\|\s*/, ''), shownBy: [...cells.at(-1)!.matchAll(/`([a-z0-9-]+(?:\.(?:integration|e2e))?)`/g)].map((m) => m[1]!) };
  });
}

const suite = new Set(testFiles(root).filter((f) => tierOf(f) !== undefined).map((f) => basename(f).replace(/\.test\.ts$/, '')));

t.test('every attacker row names at least one test', async (t) => {
  const table = rows();
  t.ok(table.length >= 8, `${table.length} rows`);
  for (const { who, shownBy } of table) t.ok(shownBy.length > 0, `${who} is shown by a test`);
});

t.test('every test the threat model names is a test file of the suite', async (t) => {
  const missing = rows().flatMap(({ who, shownBy }) => shownBy.filter((name) => !suite.has(name)).map((name) => `${name} (${who})`));
  t.same(missing, [], 'name them as x or x.integration for x.test.ts and x.integration.test.ts');
});
