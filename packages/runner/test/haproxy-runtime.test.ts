import t from 'tap';
import { planRuntimeUpdate } from '@confd-haproxy/runner';

const cfg = (servers: string[], extra = '') => `global\n    maxconn 100\ndefaults\n    mode tcp\n${extra}listen db\n    bind 0.0.0.0:13306\n${servers.map((s) => `    ${s}\n`).join('')}`;

t.test('address, port, weight and maintenance changes become runtime commands', async (t) => {
  const before = cfg(['server db-0 10.0.0.1:3306 check weight 100', 'server db-1 10.0.0.2:3306 check weight 100']);
  const after = cfg(['server db-0 10.0.0.2:3307 check weight 50', 'server db-1 10.0.0.1:3306 check weight 100 disabled']);
  t.same(planRuntimeUpdate(before, after), {
    commands: ['set server db/db-0 addr 10.0.0.2 port 3307', 'set server db/db-0 weight 50', 'set server db/db-1 addr 10.0.0.1 port 3306', 'set server db/db-1 state maint'],
  });
});

t.test('anything structural needs a reload', async (t) => {
  const base = ['server db-0 10.0.0.1:3306 check weight 100'];
  const cases: [string, string, RegExp][] = [
    ['a server added', cfg([...base, 'server db-1 10.0.0.2:3306 check']), /beyond server/],
    ['a server renamed', cfg(['server db-9 10.0.0.1:3306 check weight 100']), /beyond server/],
    ['a server made backup', cfg(['server db-0 10.0.0.1:3306 check weight 100 backup']), /more than its address/],
    ['a host name instead of an address', cfg(['server db-0 db.example:3306 check weight 100']), /addresses only/],
    ['another setting', cfg(base, '    timeout connect 9s\n'), /beyond server/],
  ];
  for (const [what, after, why] of cases) t.match(planRuntimeUpdate(cfg(base), after), { reload: why }, what);
});

t.test('comments and blank lines do not count as changes', async (t) => {
  const base = cfg(['server db-0 10.0.0.1:3306 check']);
  t.same(planRuntimeUpdate(base, `# generated\n\n${base}`), { commands: [] });
});
