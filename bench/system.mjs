// bench helpers for the whole system: HAProxy + the renderer + a checker, as the e2e test runs them.
import { join } from 'node:path';
import { TagChecker, runTagChecker } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch } from '@confd-haproxy/renderer';
import { freePort, startHAProxy, startRenderedHAProxy } from '@confd-haproxy/testkit';

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export { memcachedPidBehind as whoAnswers } from '@confd-haproxy/testkit';

/** HAProxy alone, with A active and B as backup checked by HAProxy (`inter 2s fall 3`). */
export async function haproxyOnly(a, b) {
  const port = await freePort();
  const h = await startHAProxy({
    config: '',
    configText: `global\n    maxconn 512\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nlisten mem\n    bind 127.0.0.1:${port}\n    option tcp-check\n    tcp-check send version\\r\\n\n    tcp-check expect string VERSION\n    server a 127.0.0.1:${a.port} check inter 2s fall 3 rise 2\n    server b 127.0.0.1:${b.port} check inter 2s fall 3 rise 2 backup\n`,
  });
  return { port, stop: () => h.stop() };
}

/** The system: checker (interval) → file store → renderer (watch) → HAProxy via haproxy-reload. */
export async function system(a, b, { intervalMs = 500, timeoutMs = 300, wait = { minMs: 20, maxMs: 200 } } = {}) {
  const stack = await startRenderedHAProxy({ keys: ['/haproxy/memcached'] });
  const dir = stack.dir;
  const port = await freePort();
  const ac = new AbortController();
  const file = join(dir, 'kv.json');
  const s1 = createFileStore({ file, pollMs: 200 });
  const s2 = createFileStore({ file, pollMs: 200 });
  const kind = memcachedKind({ tag: 'mem', servers: [a, b].map((m) => ({ host: m.host, port: m.port })), proxyport: port });
  const checker = new TagChecker({ tag: 'mem', kind, store: s1, logger: quiet, checker: 'bench:1', timeoutMs, retryUp: 2, retryDown: 1, lockTtlMs: 10_000, noLock: true });
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
