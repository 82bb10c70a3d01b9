// package.json's `bin` is the one list of commands: each has its committed entry point and its
// program, and nothing else in bin/ is a command nobody listed.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COMMANDS, commandMain } from 'confd-haproxy';

const cli = fileURLToPath(new URL('../', import.meta.url));
const manifest = JSON.parse(readFileSync(`${cli}package.json`, 'utf8')) as { bin: Record<string, string> };

/** What bin/<name>.js holds: npm links it before dist/ is built, and it loads nothing before the command is chosen. */
const entryPoint = (name: string) => `#!/usr/bin/env node
// The ${name} command: a committed entry point, so npm links it before dist/ is built.
import { run } from './run.js';

await run('${name}');
`;

t.test('every command in package.json has bin/<name>.js and a program in commands/<name>.ts', async (t) => {
  t.ok(COMMANDS.length >= 6, `${COMMANDS.join(', ')}`);
  for (const name of COMMANDS) {
    t.equal(manifest.bin[name], `./bin/${name}.js`, `${name}: bin path`);
    const file = `${cli}bin/${name}.js`;
    t.equal(existsSync(file) ? readFileSync(file, 'utf8') : '(missing)', entryPoint(name), `bin/${name}.js is the standard entry point`);
    t.ok(existsSync(`${cli}src/commands/${name}.ts`), `src/commands/${name}.ts exists`);
    t.type(await commandMain(name), 'function', `${name}: its program exports main`);
  }
});

t.test('bin/ holds only the listed commands and their shared runner', async (t) => {
  t.same(readdirSync(`${cli}bin`).sort(), [...COMMANDS.map((c) => `${c}.js`), 'run.js'].sort());
});

t.test('a name that is not in the list is refused, naming the list', async (t) => {
  await t.rejects(commandMain('checkpostgres'), /checkpostgres is not a command of this package \(confd-haproxy, /);
});
