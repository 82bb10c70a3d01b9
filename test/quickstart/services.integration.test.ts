// The README's services quick start: `npm run quickstart:services` renders the checkers' entries
// and the Consul services of the example (the Consul double standing in for an agent) into one
// haproxy.cfg, and HAProxy accepts it.
import t from 'tap';
import { runQuickstart } from './run.js';

t.test('npm run quickstart:services renders a listen per service beside the checkers and haproxy -c accepts it', async (t) => {
  const { result: r, out } = runQuickstart(t.testdir(), 'quickstart-services.mjs');
  t.equal(r.status, 0, r.stderr);
  const cfg = out('haproxy-services.cfg');
  for (const listen of ['slave3301', 'mem11211', 'web', 'api']) t.match(cfg, new RegExp(`^listen ${listen}$`, 'm'), `listen ${listen}`);
  t.match(cfg, /server \S+_web-3 127\.0\.0\.1:8083 check weight 1 disabled/, "a critical instance is disabled, at its node's address");
  t.match(cfg, /server \S+_web-2 127\.0\.0\.1:8082 check weight 1\n/, 'a warning instance gets its warning weight');
  t.match(r.stdout, /Configuration file is valid/);
});
