import t from 'tap';
import type { Test } from 'tap';
import type { CheckerKind, ProbeData, Target } from '@confd-haproxy/checker';
import { lockFreeChecker } from './helpers.js';

const signal = new AbortController().signal;

/** A kind whose probe learns a "role" per target and whose choose picks the one that says "primary". */
function roleKind(roles: Map<number, string | 'hang'>, seen: ProbeData<string>[]): CheckerKind<Target, string> {
  return {
    kind: 'roles',
    targets: async () => [...roles.keys()].map((port) => ({ host: '127.0.0.1', port })),
    probe: async (target, s) => {
      const role = roles.get(target.port)!;
      if (role === 'hang') await new Promise((done) => s.addEventListener('abort', done, { once: true }));
      return { ok: true, data: role };
    },
    choose({ eligible, probed }) {
      seen.push(new Map(probed));
      const primary = eligible.find((x) => probed.get(`${x.host}:${x.port}`) === 'primary');
      return { entry: primary && { name: 'r1', host: primary.host, port: primary.port, proxyport: 9000, servers: [{ host: primary.host, port: primary.port, weight: 100, role: 'active' }] } };
    },
  };
}

const checker = (t: Test, kind: CheckerKind<Target, string>) => lockFreeChecker(t, 'r1', kind);

t.test("choose receives what this pass's probes learned, by host:port", async (t) => {
  const seen: ProbeData<string>[] = [];
  const c = checker(t, roleKind(new Map([[1001, 'replica'], [1002, 'primary']]), seen));
  const r = await c.pass(signal);
  t.same([...seen[0]!.entries()].sort(), [['127.0.0.1:1001', 'replica'], ['127.0.0.1:1002', 'primary']]);
  t.match(r.entry, { host: '127.0.0.1', port: 1002 }, 'the kind chose from the data');
  t.notOk('data' in r.results[0]!.result, 'the report carries the probe result, not its data');
});

t.test('a new pass starts with no data: a target no longer listed is not remembered', async (t) => {
  const seen: ProbeData<string>[] = [];
  const roles = new Map([[1001, 'primary'], [1002, 'replica']]);
  const c = checker(t, roleKind(roles, seen));
  await c.pass(signal);
  roles.delete(1002);
  await c.pass(signal);
  t.same([...seen[1]!.keys()], ['127.0.0.1:1001']);
});

t.test('a probe that misses its deadline brings no data, even if it answers later', async (t) => {
  const seen: ProbeData<string>[] = [];
  const c = checker(t, roleKind(new Map<number, string>([[1001, 'hang'], [1002, 'primary']]), seen));
  const r = await c.pass(signal);
  t.match(r.results[0]!.result, { ok: false, reason: /no answer within 200 ms/ });
  t.same([...seen[0]!.keys()], ['127.0.0.1:1002']);
});
