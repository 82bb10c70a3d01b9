// The checker's health, readiness and series while checkers share tags: a tag handed to another
// member is forgotten here (no stale 0 of healthy servers to alert on, no missing pass).
import t from 'tap';
import type { PassReport } from '@confd-haproxy/checker';
import { checkerMetrics } from '../dist/metrics.js';
import { newRegistry } from '../dist/observe.js';

const target = { host: '127.0.0.1', port: 11211 };
const report = (tag: string, healthy: boolean): PassReport =>
  ({
    tag,
    key: `haproxy/memcached/${tag}`,
    results: [{ target, result: { ok: healthy, ms: 1 } }],
    healthy: healthy ? [target] : [],
    eligible: healthy ? [target] : [],
    chosen: target,
    entry: { name: tag, ...target, proxyport: 16211, servers: [{ ...target, weight: 100, role: 'active' }], version: 1, checker: 'h:1', updated: '2026-01-01T00:00:00Z' },
    wrote: false,
    holder: true,
    reason: 'unchanged',
    trigger: 'interval',
  }) as PassReport;

t.test('a tag handed off no longer counts for readiness and leaves no gauge behind', async (t) => {
  const registry = newRegistry();
  const m = checkerMetrics(registry, { tags: ['a', 'b', 'c'], staleAfterMs: 60_000 });
  m.onPass(report('a', true));
  m.onPass(report('b', false));
  t.match(m.ready(), { ok: false, why: /no pass yet for c/ });
  m.held(new Set(['a', 'c']));
  t.match(m.ready(), { ok: false, why: /no pass yet for c/ }, 'a tag taken on waits for its first pass');
  m.onPass(report('c', true));
  t.match(m.ready(), { ok: true }, 'b, handed off with no healthy server, is the new holder\'s to report');
  const text = await registry.metrics();
  // Counters (probes, writes) keep their totals, as counters do; the gauges of b go.
  t.notMatch(text, /confd_haproxy_checker_(healthy_servers|lock_held|active_server)\{[^}]*tag="b"/, 'no gauge of b is left');
  t.match(text, /confd_haproxy_checker_healthy_servers\{tag="a"\} 1/);
});
