// confd 0.17's own outputs (test/fixtures/confd/<case>/expect/, written by real confd on etcd:
// test/fixtures/confd/generate.mjs) against the Go template engine, in this thread and in the
// renderer's isolated worker. A dest confd refused (<dest>.error) must be refused here too.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTINS } from '@confd-haproxy/gotemplate';
import { CONFD_GO_FUNC_NAMES, createIsolatedEngine, TemplateError } from '@confd-haproxy/template';
import { createTemplateEngine } from '@confd-haproxy/template/engine';
// @ts-expect-error: a plain .mjs module shared with the generator
import { CASES, DEST_RE, FIXTURE_ENV } from '../../../test/fixtures/confd/cases.mjs';
import { createYamlStore } from '@confd-haproxy/kv';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = join(root, 'test/fixtures/confd');

/** Each resource of a case: its src and the file name its dest has under expect/. */
function resources(dir: string): { src: string; dest: string }[] {
  return readdirSync(join(dir, 'confdir/conf.d'))
    .sort()
    .map((f) => {
      const toml = readFileSync(join(dir, 'confdir/conf.d', f), 'utf8');
      return { src: /^src\s*=\s*"([^"]*)"/m.exec(toml)![1]!, dest: basename((DEST_RE as RegExp).exec(toml)![1]!) };
    });
}

const engines: { close(): Promise<void> }[] = [];
t.teardown(() => Promise.all(engines.map((e) => e.close())));

t.equal((CASES as string[]).length, 5, 'the cases: confd\'s integration confdir, the original\'s templates, the suite, the refused, the YAML file store');

for (const name of CASES as string[]) {
  t.test(`the confd fixture case ${name} renders byte for byte as confd 0.17 rendered it`, async (t) => {
    const dir = join(fixtures, name);
    // data.json as it is; data.yaml as confd's file backend flattens it (the YAML file store)
    const data = existsSync(join(dir, 'data.json'))
      ? Object.entries(JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as Record<string, string>).map(([key, value]) => ({ key, value }))
      : (await createYamlStore({ files: [join(dir, 'data.yaml')] }).list('')).pairs.map((p) => ({ key: `/${p.key}`, value: p.value }));
    const templatesDir = join(dir, 'confdir/templates');
    const env = FIXTURE_ENV as Record<string, string>;
    const isolated = createIsolatedEngine({ templatesDir, env });
    engines.push(isolated);
    for (const engine of [createTemplateEngine({ templatesDir, env }), isolated]) {
      for (const r of resources(dir)) {
        const expectFile = join(dir, 'expect', r.dest);
        const refused = existsSync(`${expectFile}.error`);
        t.ok(refused || existsSync(expectFile), `${name}/${r.dest} has an expectation`);
        let out: string | undefined;
        let err: unknown;
        try {
          out = await engine.render(r.src, data);
        } catch (e) {
          err = e;
        }
        if (refused) {
          t.ok(err instanceof TemplateError, `${r.src}: refused as confd refused it`);
          t.match((err as Error).message, new RegExp(`^${r.src.replace('.', '\\.')}:\\d+:\\d+: `), 'the refusal names file:line:column');
        } else {
          t.equal(err, undefined, `${r.src} renders`);
          t.ok(out === readFileSync(expectFile, 'utf8'), `${r.src}: the bytes confd wrote`);
        }
      }
    }
  });
}

t.test("every function of confd 0.17's map and every Go builtin is called by a fixture confd rendered", async (t) => {
  const text = (CASES as string[])
    .flatMap((name) => readdirSync(join(fixtures, name, 'confdir/templates')).map((f) => readFileSync(join(fixtures, name, 'confdir/templates', f), 'utf8')))
    .join('\n');
  const called = new Set([...text.matchAll(/[{(|=]\s*-?\s*([A-Za-z][A-Za-z0-9]*)\b/g)].map((m) => m[1]));
  t.equal(CONFD_GO_FUNC_NAMES.length, 39, "confd 0.17's function map: 32 functions and memkv's 7");
  for (const name of [...CONFD_GO_FUNC_NAMES, ...BUILTINS.keys()]) t.ok(called.has(name), `${name} is called`);
});
