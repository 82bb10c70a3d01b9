// checkmemcached's choice over what a pass saw, no memcached needed; the integration files run it
// against real servers (with and without SASL).
import t from 'tap';
import { chooseActive, type ActiveInput } from '@confd-haproxy/check-memcached';
import type { Entry } from '@confd-haproxy/schema';

const a = { host: '10.0.0.1', port: 11211 };
const b = { host: '10.0.0.2', port: 11211 };
const c = { host: '10.0.0.3', port: 11212 };
const stored = (t: { host: string; port: number }): Entry => ({ name: 'mem', host: t.host, port: t.port, proxyport: 16211, servers: [], version: 1, checker: 'x', updated: '' });
const input = (over: Partial<ActiveInput>): ActiveInput => ({ tag: 'mem', servers: [a, b, c], eligible: [a, b, c], current: undefined, probed: new Map(), ...over });
const roles = (i: ActiveInput) => chooseActive(i).entry?.servers.map((s) => `${s.host}:${s.port} ${s.role}`);

t.test('without a stored entry the first healthy server in the order given is active, the others are backups', async (t) => {
  t.same(roles(input({ eligible: [b, c] })), ['10.0.0.2:11211 active', '10.0.0.1:11211 backup', '10.0.0.3:11212 backup']);
});

t.test('the stored active server stays active while it is healthy (no flapping back to the first)', async (t) => {
  t.equal(chooseActive(input({ current: stored(c) })).entry?.host, '10.0.0.3');
});

t.test('a stored active server that is no longer healthy is replaced by the first healthy one', async (t) => {
  t.match(chooseActive(input({ current: stored(a), eligible: [b, c] })).entry, { host: '10.0.0.2', port: 11211 });
});

t.test('nothing healthy: no entry, so HAProxy keeps what it has', async (t) => {
  t.same(chooseActive(input({ eligible: [] })), { detail: { sasl: [] } });
});

t.test('the proxyport is the first configured server port + 5000 whoever is active, unless one is given', async (t) => {
  t.equal(chooseActive(input({ eligible: [c] })).entry?.proxyport, 16211);
  t.equal(chooseActive(input({ proxyport: 20000 })).entry?.proxyport, 20000);
});

t.test('every server gets the default weight', async (t) => {
  t.same(chooseActive(input({})).entry?.servers.map((s) => s.weight), [100, 100, 100]);
});

t.test('servers whose probe found a SASL problem are named in the detail, in server order, with or without an entry', async (t) => {
  const probed = new Map([
    ['10.0.0.3:11212', { sasl: 'required' as const }],
    ['10.0.0.1:11211', { sasl: 'refused' as const }],
    ['10.0.0.2:11211', {}],
  ]);
  const want = [
    { target: a, problem: 'refused' },
    { target: c, problem: 'required' },
  ];
  t.same(chooseActive(input({ probed, eligible: [b] })).detail, { sasl: want });
  t.same(chooseActive(input({ probed, eligible: [] })).detail, { sasl: want });
});
