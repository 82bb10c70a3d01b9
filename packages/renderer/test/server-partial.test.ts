// The shipped partials write every kind's server line through one partial (templates/partials/server.hbs):
// a server's role changes only what HAProxy's runtime API can change, so no role change needs a reload.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { planRuntimeUpdate } from '@confd-haproxy/runner';
import { createTemplateEngine } from '@confd-haproxy/template/engine';
import type { ServerRole } from '@confd-haproxy/schema';

const templatesDir = fileURLToPath(new URL('../../../templates', import.meta.url));
const engine = createTemplateEngine({ templatesDir, env: {} });

const KINDS = ['mysqlslave', 'memcached', 'redis', 'galera'] as const;

/** One entry of `kind` whose second server (a galera reader) has `role`. */
function entry(kind: (typeof KINDS)[number], role: ServerRole) {
  const servers = [
    { host: '10.0.0.1', port: 4000, weight: 100, role: 'active' as const },
    { host: '10.0.0.2', port: 4000, weight: 100, role },
  ];
  const head = { name: 't1', host: '10.0.0.1', port: 4000, proxyport: 14000, version: 1 };
  const body = kind === 'galera' ? { ...head, servers: servers.slice(0, 1), readerport: 14001, readers: servers } : { ...head, servers };
  return [{ key: `/haproxy/${kind}/t1`, value: JSON.stringify(body) }];
}

const serverLines = (cfg: string) => cfg.split('\n').filter((l) => l.trim().startsWith('server '));

/** The second server as the runtime API names it: <listen>/<server>. */
const SECOND: Record<(typeof KINDS)[number], string> = {
  mysqlslave: 't1/t1-mysql-1',
  memcached: 't1/t1-memcached-1',
  redis: 't1/t1-redis-1',
  galera: 't1-reader/t1-galera-r1',
};

for (const kind of KINDS) {
  t.test(`a ${kind} server drained, put in maintenance or made active again changes through the runtime API`, async (t) => {
    const active = await engine.render('haproxy.cfg.hbs', entry(kind, 'active'));
    const drained = await engine.render('haproxy.cfg.hbs', entry(kind, 'drain'));
    const maint = await engine.render('haproxy.cfg.hbs', entry(kind, 'maint'));
    t.same(planRuntimeUpdate(active, drained), { commands: [`set server ${SECOND[kind]} weight 0`] }, 'active → drain');
    t.same(planRuntimeUpdate(drained, active), { commands: [`set server ${SECOND[kind]} weight 100`] }, 'drain → active');
    t.same(planRuntimeUpdate(active, maint), { commands: [`set server ${SECOND[kind]} state maint`] }, 'active → maint');
    t.same(planRuntimeUpdate(maint, active), { commands: [`set server ${SECOND[kind]} state ready`] }, 'maint → active');
  });

  t.test(`a ${kind} server is an HAProxy backup exactly when its role is backup`, async (t) => {
    for (const role of ['active', 'backup', 'drain', 'maint'] as const) {
      const last = serverLines(await engine.render('haproxy.cfg.hbs', entry(kind, role))).at(-1)!;
      t.equal(last.split(' ').includes('backup'), role === 'backup', `${role}: ${last.trim()}`);
    }
  });
}

t.test('a server without a role or weight (an entry written by hand) is an active server of weight 100', async (t) => {
  for (const kind of KINDS) {
    const body = { name: 't1', host: '10.0.0.1', port: 4000, proxyport: 14000, servers: [{ host: '10.0.0.1', port: 4000 }], readerport: 14001, readers: [{ host: '10.0.0.1', port: 4000 }] };
    const out = await engine.render('haproxy.cfg.hbs', [{ key: `/haproxy/${kind}/t1`, value: JSON.stringify(body) }]);
    const last = serverLines(out).at(-1)!;
    t.match(last, / weight 100$/, `${kind}: ${last.trim()}`);
  }
});
