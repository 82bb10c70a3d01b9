// The measured process of bench/scale: TAGS tags × 2 memcached-protocol targets, 1 s interval.
// With BENCH_PROF=dir it profiles the measured window only (start-up and first writes excluded).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { DEFAULT_HEARTBEAT_BUDGET, TagChecker, heartbeatPeriod, runTagCheckers } from '@confd-haproxy/checker';
import { memcachedKind } from '@confd-haproxy/check-memcached';
import { createFileStore } from '@confd-haproxy/kv';

const [file, portsArg] = process.argv.slice(2);
const ports = portsArg.split(',').map(Number);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const store = createFileStore({ file });
const ac = new AbortController();
const checkers = [];
// As the bins do: BENCH_HEARTBEAT_MS per tag, spread so the process stays within BENCH_HEARTBEAT_BUDGET a second (0: no limit).
const heartbeatMs = heartbeatPeriod(Number(process.env.BENCH_HEARTBEAT_MS ?? 0), ports.length / 2, Number(process.env.BENCH_HEARTBEAT_BUDGET ?? DEFAULT_HEARTBEAT_BUDGET));
for (let i = 0; i < ports.length; i += 2) {
  const tag = `mem${i / 2}`;
  const kind = memcachedKind({ tag, servers: [{ host: '127.0.0.1', port: ports[i] }, { host: '127.0.0.1', port: ports[i + 1] }], proxyport: 20000 + (i / 2) % 40000 });
  checkers.push(new TagChecker({ tag, kind, store, logger: quiet, checker: 'bench:1', timeoutMs: 500, heartbeatMs, retryUp: 2, retryDown: 1, lockTtlMs: 15_000, noLock: true }));
}
let writes = 0;
const profiler = process.env.BENCH_PROF ? new Session() : undefined;
process.on('message', async (m) => {
  if (m === 'measure') {
    writes = 0;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
  }
});
process.on('SIGTERM', async () => {
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(join(process.env.BENCH_PROF, `scale-${ports.length}-${process.pid}.cpuprofile`), JSON.stringify(profile));
  }
  process.send?.({ writes, memory: process.memoryUsage() });
  ac.abort();
});
const written = new Set();
const onPass = (r) => {
  if (!r.wrote) return;
  writes++;
  written.add(r.tag);
  // Every tag has its first entry: the parent may start measuring.
  if (written.size === checkers.length) process.send?.('settled');
};
const loops = runTagCheckers(checkers, { intervalMs: 1000, signal: ac.signal, onPass });
process.send?.('ready');
await loops;
await store.close();
process.exit(0);
