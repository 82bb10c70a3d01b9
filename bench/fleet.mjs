#!/usr/bin/env node
// bench/fleet: ten renderer instances with --config-from-store over the Consul double (one process,
// own state dirs and dests); time from a push to every instance's status showing the new version
// and a converged fleet, p50/p99 over RUNS pushes. Baseline in the same run: a fleet of one.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushConfig, readFleet, runFleet } from '@confd-haproxy/fleet';
import { createConsulStore } from '@confd-haproxy/kv';
import { startConsulDouble } from '@confd-haproxy/testkit';
import { pct, sleep, table } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const root = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-fleet-'));
const double = await startConsulDouble();
const store = () => createConsulStore({ address: double.address });

function writeConfdir(dir, marker) {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'conf.d/app.toml'), '[template]\nsrc = "app.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/memcached"]\n');
  writeFileSync(join(dir, 'templates/app.hbs'), `# ${marker}\n{{#each (gets "/haproxy/memcached/*")}}{{Key}} {{Value}}\n{{/each}}`);
}

async function series(name, n) {
  const base = join(root, name);
  const admin = store();
  await admin.put('haproxy/memcached/m1', '{"name":"m1","host":"127.0.0.1","port":11211,"proxyport":16211}');
  const ac = new AbortController();
  const running = [];
  for (let i = 0; i < n; i++) {
    const confdir = join(base, `i${i}`, 'etc');
    writeConfdir(confdir, 'bootstrap');
    const s = store();
    running.push(runFleet({ store: s, stateDir: join(base, `i${i}`, 'state'), confdir, logger: quiet, signal: ac.signal, env: {}, wait: { minMs: 20, maxMs: 200 }, diffsBeforeSync: 3, checkIntervalMs: 100, statusTtlMs: 10_000 }).finally(() => s.close()));
  }
  const src = join(base, 'src');
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    writeConfdir(src, `${name} push ${r}`);
    const t0 = Date.now();
    const { bundle } = await pushConfig({ store: admin, confdir: src, stateDir: join(base, 'pusher'), logger: quiet, signal: ac.signal });
    let v = await readFleet(admin);
    const deadline = Date.now() + 20_000;
    while (!(v.converged && v.rows.length === n && v.rows.every((x) => x.version === bundle.version)) && Date.now() < deadline) {
      await sleep(20);
      v = await readFleet(admin);
    }
    times.push(v.converged && v.rows.length === n ? Date.now() - t0 : NaN);
    await sleep(100);
  }
  ac.abort();
  await Promise.all(running);
  await admin.delete('haproxy/.config/bundle');
  await admin.close();
  const ok = times.filter(Number.isFinite);
  return { name, runs: ok.length, p50: pct(ok, 50), p99: pct(ok, 99), max: Math.max(...ok) };
}

try {
  const one = await series('one', 1);
  const ten = await series('ten', INSTANCES);
  table(['fleet', 'pushes converged', 'p50', 'p99', 'max'], [one, ten].map((r) => [r.name === 'one' ? '1 instance (baseline)' : `${INSTANCES} instances`, `${r.runs} of ${RUNS}`, `${r.p50} ms`, `${r.p99} ms`, `${r.max} ms`]));
  console.log(`fleet: ${INSTANCES} instances p99 ${ten.p99} ms (goal ≤ 2000 ms), ${(ten.p99 / one.p99).toFixed(2)}× a fleet of one; diffs_before_sync 3 at 100 ms`);
} finally {
  await double.close();
  rmSync(root, { recursive: true, force: true });
}
