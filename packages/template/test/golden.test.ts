// Golden files: test/fixtures/templates/<case>/{kv.json, template.hbs?, partials/?, expect/output}.
// A case without template.hbs renders the shipped templates/haproxy.cfg.hbs. UPDATE_GOLDEN=1 rewrites.
// The renderer's isolated engine (a worker thread) must render the same bytes.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createIsolatedEngine } from '@confd-haproxy/template';
import { createTemplateEngine } from '@confd-haproxy/template/engine';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = join(root, 'test/fixtures/templates');

function caseInput(dir: string) {
  const kv = JSON.parse(readFileSync(join(dir, 'kv.json'), 'utf8')) as Record<string, string>;
  const data = Object.entries(kv).map(([key, value]) => ({ key: key.startsWith('/') ? key : `/${key}`, value }));
  const own = existsSync(join(dir, 'template.hbs'));
  return { data, templatesDir: own ? dir : join(root, 'templates'), src: own ? 'template.hbs' : 'haproxy.cfg.hbs' };
}

/** The first differing line with a few lines of context, both sides. */
function lineDiff(expected: string, actual: string): string {
  const e = expected.split('\n');
  const a = actual.split('\n');
  let i = 0;
  while (i < e.length && i < a.length && e[i] === a[i]) i++;
  const from = Math.max(0, i - 3);
  const show = (lines: string[], mark: string) =>
    lines
      .slice(from, i + 4)
      .map((l, n) => `${from + n === i ? mark : ' '} ${String(from + n + 1).padStart(4)} | ${JSON.stringify(l)}`)
      .join('\n');
  return `first difference at line ${i + 1}\nexpected:\n${show(e, '-')}\nactual:\n${show(a, '+')}`;
}

/** One isolated engine per templates dir (a worker each), closed when the file's tests end. */
const isolated = new Map<string, ReturnType<typeof createIsolatedEngine>>();
const isolatedFor = (templatesDir: string) => isolated.get(templatesDir) ?? isolated.set(templatesDir, createIsolatedEngine({ templatesDir, env: {} })).get(templatesDir)!;
t.teardown(() => Promise.all([...isolated.values()].map((e) => e.close())));

const cases = readdirSync(fixtures).sort();
t.ok(cases.length >= 11, 'every fixture case is found');

for (const name of cases) {
  t.test(`the ${name} fixture renders its golden output byte for byte`, async (t) => {
    const dir = join(fixtures, name);
    const { data, templatesDir, src } = caseInput(dir);
    // No HAPROXY_STATS_SOCKET: the shipped cases show the default socket path.
    const engine = createTemplateEngine({ templatesDir, env: {}, now: () => new Date('2026-11-24T10:00:00Z') });
    const out = await engine.render(src, data);
    const expectFile = join(dir, 'expect/output');
    if (process.env.UPDATE_GOLDEN === '1') {
      mkdirSync(join(dir, 'expect'), { recursive: true });
      writeFileSync(expectFile, out);
    }
    const expected = readFileSync(expectFile, 'utf8');
    t.ok(out === expected, out === expected ? 'output matches' : lineDiff(expected, out));
    const inWorker = await isolatedFor(templatesDir).render(src, data);
    t.ok(inWorker === expected, inWorker === expected ? 'the isolated engine renders the same bytes' : lineDiff(expected, inWorker));
  });
}
