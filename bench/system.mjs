// bench helpers for the whole system: HAProxy + the renderer + a checker, as the e2e test runs them.
import { join } from 'node:path';
import { DEFAULT_HEARTBEAT_MS, TagChecker, runTagChecker } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch } from '@confd-haproxy/renderer';
import { freePort, startHAProxy, startRenderedHAProxy } from '@confd-haproxy/testkit';

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export { memcachedPidBehind as whoAnswers } from '@confd-haproxy/testkit';

/** HAProxy's own checks: its defaults, and the checker's budget (a check every 500 ms, 300 ms to answer, one failure). */
export const HAPROXY_CHECKS = {
  defaults: { server: 'check inter 2s fall 3 rise 2', defaults: '' },
  sameBudget: ({ intervalMs, timeoutMs }) => ({ server: `check inter ${intervalMs}ms fall 1 rise 2 on-marked-down shutdown-sessions`, defaults: `    timeout check ${timeoutMs}ms\n` }),
};

/** HAProxy alone, with A active and B as backup, both checked by HAProxy with `checks`. */
export async function haproxyOnly(a, b, checks = HAPROXY_CHECKS.defaults) {
  const port = await freePort();
  const h = await startHAProxy({
    config: '',
    configText: `global\n    maxconn 512\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n${checks.defaults}listen mem\n    bind 127.0.0.1:${port}\n    option tcp-check\n    tcp-check send version\\r\\n\n    tcp-check expect string VERSION\n    server a 127.0.0.1:${a.port} ${checks.server}\n    server b 127.0.0.1:${b.port} ${checks.server} backup\n`,
  });
  return { port, stop: () => h.stop() };
}

/**
 * The system: checker (interval, heartbeat) → file store → renderer (watch, the shipped quiet period) → HAProxy,
 * through the runtime API when only servers move (else a checked reload through haproxy-reload).
 */
export async function system(a, b, { intervalMs = 500, timeoutMs = 300, heartbeatMs = DEFAULT_HEARTBEAT_MS, wait = { minMs: 200, maxMs: 2000 } } = {}) {
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'], runtimeApi: true });
  const dir = stack.dir;
  const port = await freePort();
  const ac = new AbortController();
  const file = join(dir, 'kv.json');
  const s1 = createFileStore({ file, pollMs: 200 });
  const s2 = createFileStore({ file, pollMs: 200 });
  const kind = memcachedKind({ tag: 'mem', servers: [a, b].map((m) => ({ host: m.host, port: m.port })), proxyport: port });
  const checker = new TagChecker({ tag: 'mem', kind, store: s1, logger: quiet, checker: 'bench:1', timeoutMs, heartbeatMs, retryUp: 2, retryDown: 1, lockTtlMs: 10_000, noLock: true });
  const loops = [
    runTagChecker(checker, { intervalMs, signal: ac.signal }),
    runWatch({ store: s2, confdir: dir, logger: quiet, signal: ac.signal, env: stack.env, wait }),
  ];
  return {
    port,
    stop: async () => {
      ac.abort();
      await Promise.all(loops);
      await s1.close();
      await s2.close();
      await stack.stop();
    },
  };
}
