#!/usr/bin/env node
// bench/takeover: two checkmemcached for one tag on the Consul double (two hosts: own lock dirs);
// the lock holder and the active memcached are SIGKILLed together; time until the other has
// written the entry pointing at the healthy memcached. The two share the tag by default (the tag
// is the holder's, the other keeps only its member key); BENCH_NO_SHARE=1 runs them with
// --no-share-tags (the other a hot standby, probing). Per --lock-ttl (BENCH_TTLS, default 15s
// and 10s, Consul's minimum); the double invalidates a session between TTL and TTL + 1 s (real
// Consul: between TTL and 2 × TTL).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulStore } from '@confd-haproxy/kv';
import { startConsulDouble, startMemcached } from '@confd-haproxy/testkit';
import { pct, sleep, table, until } from './lib.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TTLS = (process.env.BENCH_TTLS ?? '15s,10s').split(',');
const TAG = 'takeover';

async function once(ttl) {
  const double = await startConsulDouble({ recordRequests: false });
  const store = createConsulStore({ address: double.address });
  const [a, b] = [await startMemcached(), await startMemcached()];
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-takeover-'));
  const checker = (name) =>
    execFile(process.execPath, [join(root, 'packages/cli/bin/checkmemcached.js'), '--server', `127.0.0.1:${a.port},127.0.0.1:${b.port}`, '--tag', TAG, '--backend', 'consul', '--node', double.address, '--interval', '1s', '--lock-ttl', ttl, '--lock-dir', join(dir, name), ...(process.env.BENCH_NO_SHARE ? ['--no-share-tags'] : [])]);
  const port = async () => JSON.parse((await store.get(`haproxy/memcached/${TAG}`))?.value ?? '{}').port;
  const first = checker('a');
  let second;
  try {
    if (!(await until(async () => (await port()) === a.port, 20_000, 50))) throw new Error('the first checker never wrote the entry');
    second = checker('b');
    await sleep(2000);
    // Sharing may have handed the tag to the second: kill whichever holds the lock now.
    const pid = Number((await store.get(`haproxy/.locks/memcached/${TAG}`))?.value.split(':').at(-1));
    const holder = [first, second].find((c) => c.pid === pid);
    if (!holder) throw new Error(`the lock holder ${pid} is neither checker`);
    const t0 = Date.now();
    holder.kill('SIGKILL');
    a.kill('SIGKILL');
    if (!(await until(async () => (await port()) === b.port, 60_000, 20))) throw new Error('the other checker never took over');
    return Date.now() - t0;
  } finally {
    first.kill('SIGKILL');
    second?.kill('SIGKILL');
    await Promise.all([a.stop(), b.stop()]);
    await store.close();
    await double.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (const ttl of TTLS) {
  const times = [];
  for (let i = 0; i < RUNS; i++) times.push(await once(ttl));
  rows.push([ttl, String(RUNS), `${Math.min(...times)} ms`, `${pct(times, 50)} ms`, `${Math.max(...times)} ms`]);
}
table(['--lock-ttl', 'runs', 'min', 'p50', 'max'], rows);
console.log(`takeover after a dead holder (holder and active server killed together): ${rows.map((r) => `ttl ${r[0]} p50 ${r[3]} max ${r[4]}`).join('; ')}`);
