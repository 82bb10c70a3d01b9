// The measured process of bench/scale: TAGS tags × 2 memcached-protocol targets, 1 s interval.
import { TagChecker, runTagChecker } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { createFileStore } from '@confd-haproxy/kv';

const [file, portsArg] = process.argv.slice(2);
const ports = portsArg.split(',').map(Number);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const store = createFileStore({ file });
const ac = new AbortController();
process.on('SIGTERM', () => ac.abort());
const loops = [];
for (let i = 0; i < ports.length; i += 2) {
  const tag = `mem${i / 2}`;
  const kind = memcachedKind({ tag, servers: [{ host: '127.0.0.1', port: ports[i] }, { host: '127.0.0.1', port: ports[i + 1] }], proxyport: 20000 + i / 2 });
  const c = new TagChecker({ tag, kind, store, logger: quiet, checker: 'bench:1', timeoutMs: 500, retryUp: 2, retryDown: 1, lockTtlMs: 15_000, noLock: true });
  loops.push(runTagChecker(c, { intervalMs: 1000, signal: ac.signal, onPass: (r) => { if (process.env.BENCH_DEBUG && r.wrote) console.error('wrote', tag, r.results.map((x) => x.result.reason ?? 'ok').join(',')); } }));
}
process.send?.('ready');
await Promise.all(loops);
await store.close();
process.exit(0);
