// The published Handlebars escape (reach Function through "constructor", then call it with the
// attacker's code) runs nothing in any of our engines: the operator's template or a bundle's is
// rendered with Handlebars' prototype-access checks on. The same payload, given to plain
// Handlebars with those checks off, does run: so these tests fail if an engine ever turns them off.
import t from 'tap';
import type { Test } from 'tap';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInlineEngine, createIsolatedEngine, type TemplateEngine } from '@confd-haproxy/template';
import { createTemplateEngine } from '@confd-haproxy/template/engine';

/** Reaches Function from a string's `sub` method and calls it with `code`; `code` must not hold '"'. */
const escape = (code: string) => `{{#with "s" as |string|}}
  {{#with "e"}}
    {{#with split as |conslist|}}
      {{this.pop}}
      {{this.push (lookup string.sub "constructor")}}
      {{this.pop}}
      {{#with string.split as |codelist|}}
        {{this.pop}}
        {{this.push "${code}"}}
        {{this.pop}}
        {{#each conslist}}
          {{#with (string.sub.apply 0 codelist)}}
            {{this}}
          {{/with}}
        {{/each}}
      {{/with}}
    {{/with}}
  {{/with}}
{{/with}}
`;

/** What the payload does: write a file (seen from any thread, the render worker's included). */
const writes = (file: string) => `process.getBuiltinModule('fs').writeFileSync('${file}', 'ran'); return 1;`;

async function attack(t: Test, make: (templatesDir: string) => TemplateEngine & { close?: () => Promise<void> }) {
  const dir = t.testdir({});
  const mark = join(dir, 'ran');
  const templatesDir = t.testdir({ 'evil.hbs': escape(writes(mark)) });
  const engine = make(templatesDir);
  t.teardown(() => engine.close?.());
  const outcome = await engine.render('evil.hbs', []).then(
    () => 'rendered',
    (err: Error) => `refused: ${err.message}`,
  );
  return { ran: existsSync(mark), outcome };
}

t.test('the payload is live: plain Handlebars with its prototype checks off runs it', async (t) => {
  const Handlebars = createRequire(import.meta.url)('handlebars') as typeof import('handlebars');
  const mark = join(t.testdir({}), 'ran');
  const open = { allowProtoPropertiesByDefault: true, allowProtoMethodsByDefault: true, allowedProtoProperties: { constructor: true }, allowedProtoMethods: { constructor: true } };
  Handlebars.create().compile(escape(writes(mark)))({}, open);
  t.ok(existsSync(mark), 'the code ran');
});

t.test("the operator's engine (one-shot commands) runs nothing", async (t) => {
  const r = await attack(t, (templatesDir) => createTemplateEngine({ templatesDir, env: {} }));
  t.notOk(r.ran, `nothing ran (${r.outcome})`);
});

t.test('the in-thread engine with its time limit (plan, status, a push trial) runs nothing', async (t) => {
  const r = await attack(t, (templatesDir) => createInlineEngine({ templatesDir, env: {} }));
  t.notOk(r.ran, `nothing ran (${r.outcome})`);
});

t.test("the render worker (watch and interval mode, a bundle's renders) runs nothing", async (t) => {
  const r = await attack(t, (templatesDir) => createIsolatedEngine({ templatesDir, env: {} }));
  t.notOk(r.ran, `nothing ran (${r.outcome})`);
});
