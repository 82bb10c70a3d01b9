// The README's first command on the embedded file store: `npm run quickstart` renders the shipped
// templates from examples/quickstart/kv.json, and HAProxy accepts the result.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

t.test('npm run quickstart renders every shipped service and haproxy -c accepts it', async (t) => {
  const r = spawnSync(process.execPath, [join(root, 'scripts/quickstart.mjs')], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  const cfg = readFileSync(join(root, 'out/haproxy.cfg'), 'utf8');
  for (const listen of ['slave3301', 'mem11211', 'sessions', 'main-writer', 'main-reader']) t.match(cfg, new RegExp(`^listen ${listen}$`, 'm'), `listen ${listen}`);
  t.match(r.stdout, /Configuration file is valid/);
});
