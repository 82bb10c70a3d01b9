// The README's first command on the embedded file store: `npm run quickstart` renders the shipped
// templates from examples/quickstart/kv.json, and HAProxy accepts the result.
import t from 'tap';
import { runQuickstart } from './run.js';

t.test('npm run quickstart renders every shipped service and haproxy -c accepts it', async (t) => {
  const { result: r, out } = runQuickstart(t.testdir(), 'quickstart.mjs');
  t.equal(r.status, 0, r.stderr);
  const cfg = out('haproxy.cfg');
  for (const listen of ['slave3301', 'mem11211', 'sessions', 'main-writer', 'main-reader']) t.match(cfg, new RegExp(`^listen ${listen}$`, 'm'), `listen ${listen}`);
  t.match(r.stdout, /Configuration file is valid/);
});
