// Every shipped-template golden output must be a configuration real HAProxy accepts. (The
// original's `listen <name> <addr>` form is refused since HAProxy 1.9: the shipped one uses `bind`.)
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const fixtures = fileURLToPath(new URL('../../../test/fixtures/templates', import.meta.url));
const haproxy = '/usr/sbin/haproxy';

t.ok(existsSync(haproxy), 'haproxy is installed (npm test installs it as root)');
for (const name of readdirSync(fixtures).filter((n) => n.startsWith('shipped-')).sort()) {
  t.test(`haproxy -c accepts the ${name} output`, async (t) => {
    const { stdout, stderr } = await run(haproxy, ['-c', '-f', join(fixtures, name, 'expect/output')]);
    t.match(stdout + stderr, /Configuration file is valid/);
  });
}

t.test('the original layout (listen <name> <addr>) is what modern HAProxy refuses', async (t) => {
  const err = await run(haproxy, ['-c', '-f', join(fixtures, 'original-mysql/expect/output')]).catch((e: { stderr: string }) => e);
  t.match((err as { stderr: string }).stderr, /please use the 'bind' keyword/);
});
