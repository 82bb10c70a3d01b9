#!/usr/bin/env node
// bench/fleet: BENCH_INSTANCES (100) renderers, each its own `confd-haproxy --config-from-store`
// process as a user runs it (own state dir and dest, the default --diffs-before-sync 3, 200 ms
// apart), over the Consul double and over a real etcd (BENCH_STORES). Per push: the time from
// starting `confd-haproxy push` (its own start included) until every instance's status shows the
// new version and the fleet is converged; p50/p99 over BENCH_RUNS pushes. During each push: the
// store's requests per second (the bench's own status polls left out), blocking queries (Consul) or
// watchers (etcd) held, and the CPU used by the instances, the store and the whole machine.
// Baseline in the same run and on the same store: a fleet of one process.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFleet, BUNDLE_KEY } from '@confd-haproxy/fleet';
import { createConsulStore, createEtcdStore } from '@confd-haproxy/kv';
import { startConsulDouble, startEtcd } from '@confd-haproxy/testkit';
import { pct, sleep, table } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 100);
const STORES = (process.env.BENCH_STORES ?? 'consul,etcd').split(',').filter(Boolean);
const POLL_MS = 50;
const START_MS = Number(process.env.BENCH_START_MS ?? 900_000);
const BATCH = 10;
// BENCH_RENDER_TIMEOUT: the instances' --render-timeout (unset: their default, 10 s).
const RENDER_TIMEOUT = process.env.BENCH_RENDER_TIMEOUT;
const PUSH_DEADLINE_MS = Number(process.env.BENCH_PUSH_DEADLINE_MS ?? 30_000);
const BIN = fileURLToPath(new URL('../packages/cli/bin/confd-haproxy.js', import.meta.url));
const TICK = 100; // USER_HZ: clock ticks per second in /proc/<pid>/stat
const root = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-fleet-'));
// Every instance process started, stopped by PID should the bench itself be stopped.
const started = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGTERM');
    setTimeout(() => {
      rmSync(root, { recursive: true, force: true });
      process.exit(130);
    }, 2000);
  });
}

function writeConfdir(dir, marker) {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'conf.d/app.toml'), '[template]\nsrc = "app.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/memcached"]\n');
  writeFileSync(join(dir, 'templates/app.hbs'), `# ${marker}\n{{#each (gets "/haproxy/memcached/*")}}{{Key}} {{Value}}\n{{/each}}`);
}

/** CPU seconds a process used so far (user + system), from /proc; 0 once it is gone. */
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine so far, from /proc/stat. */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / TICK, total: total / TICK };
}

/** A store to bench on: its flags for the bin, a client, how many requests it served and what it holds now, its CPU, and a stop. */
async function openBench(kind) {
  if (kind === 'consul') {
    // In this process: the bench itself only polls, and the double's counters are at hand.
    const double = await startConsulDouble();
    return {
      kind,
      flags: ['--backend', 'consul', '--node', double.address],
      client: () => createConsulStore({ address: double.address }),
      requests: async () => double.requests.length,
      held: async () => double.blockedQueries,
      heldWhat: 'blocking queries held',
      pollRequests: 2, // readFleet: a list and a get
      cpu: () => process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
      cpuWhat: 'the double (in the bench process)',
      stop: () => double.close(),
    };
  }
  const etcd = await startEtcd();
  const metric = async (names) => {
    const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) if (names.some((n) => line.startsWith(n))) sum += Number(line.split(' ').at(-1));
    return sum;
  };
  return {
    kind,
    flags: ['--backend', 'etcd', '--node', etcd.endpoint],
    client: () => createEtcdStore({ nodes: [etcd.endpoint] }),
    // Every message received: a unary call, a watch create or cancel, a lease keep-alive.
    requests: () => metric(['grpc_server_msg_received_total{']),
    held: () => metric(['etcd_debugging_mvcc_watcher_total ']),
    heldWhat: 'watchers held',
    pollRequests: 2,
    cpu: () => cpuOf(etcd.pid),
    cpuWhat: 'etcd',
    stop: () => etcd.stop(),
  };
}

/** Run `confd-haproxy push` and wait for it; its exit code. */
function push(store, dir, stateDir) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, 'push', '--confdir', dir, '--state-dir', stateDir, ...store.flags], { stdio: 'ignore' });
    child.on('exit', (code) => done(code ?? 1));
  });
}

async function series(store, name, n) {
  const base = join(root, `${store.kind}-${name}`);
  const admin = store.client();
  await admin.put('haproxy/memcached/m1', '{"name":"m1","host":"127.0.0.1","port":11211,"proxyport":16211}');
  const children = [];
  const startedAt = Date.now();
  let v = { rows: [] };
  // Up: its status is published (a first render may fail on a starved machine: its render worker
  // can take longer than --render-timeout to start; the push renders again).
  const rendered = (x) => x.rows.filter((r) => r.status.last).length;
  try {
    // Started BATCH at a time, each batch up before the next: 100 Node processes starting at once
    // on 2 cores starve the store (the start is not what is measured).
    for (let i = 0; i < n; i++) {
      const dir = join(base, `i${i}`);
      writeConfdir(join(dir, 'etc'), 'bootstrap');
      mkdirSync(join(dir, 'state'), { recursive: true, mode: 0o700 });
      const args = [BIN, '--config-from-store', '--confdir', join(dir, 'etc'), '--state-dir', join(dir, 'state'), '--allow-dest', join(dir, 'etc', 'app.cfg'), '--log-level', 'error', ...(RENDER_TIMEOUT ? ['--render-timeout', RENDER_TIMEOUT] : []), ...store.flags];
      const child = spawn(process.execPath, args, { stdio: 'ignore' });
      started.add(child);
      child.once('exit', () => started.delete(child));
      children.push(child);
      if (children.length % BATCH !== 0 && children.length !== n) continue;
      while (rendered(v) < children.length && Date.now() - startedAt < START_MS) {
        await sleep(1000);
        v = await readFleet(admin).catch(() => v); // a slow answer while processes start is no failure
      }
      console.error(`${store.kind} ${name}: ${rendered(v)} of ${n} instances up after ${Math.round((Date.now() - startedAt) / 1000)} s`);
    }
    const upMs = Date.now() - startedAt;
    if (rendered(v) < n) throw new Error(`${name}: only ${rendered(v)} of ${n} instances ran a pass and published a status in ${upMs} ms`);
    const firstFailed = v.rows.filter((r) => r.status.last && !r.status.last.ok).length;
    await sleep(2000); // let the start settle
    const src = join(base, 'src');
    const rows = [];
    for (let r = 0; r < RUNS; r++) {
      writeConfdir(src, `${name} push ${r}`);
      const expected = (v.bundle?.version ?? 0) + 1;
      const heldBefore = await store.held();
      const [req0, cpu0, store0, m0] = [await store.requests(), children.reduce((a, c) => a + cpuOf(c.pid), 0), store.cpu(), machineCpu()];
      const t0 = Date.now();
      let pushMs = NaN;
      const pushed = push(store, src, join(base, 'pusher')).then((code) => ((pushMs = Date.now() - t0), code));
      let polls = 0;
      let heldMax = heldBefore;
      let seenAt = NaN; // the first poll that saw the new bundle in the store (±POLL_MS)
      const deadline = t0 + PUSH_DEADLINE_MS;
      do {
        await sleep(POLL_MS);
        v = await readFleet(admin).catch(() => v);
        polls++;
        if (Number.isNaN(seenAt) && v.bundle?.version === expected) seenAt = Date.now();
        heldMax = Math.max(heldMax, await store.held());
      } while (!(v.converged && v.rows.length === n && v.rows.every((x) => x.version === expected)) && Date.now() < deadline);
      const convergedAt = Date.now();
      const code = await pushed;
      // Done when both the push command exited and every instance runs the new version.
      const ms = Math.max(convergedAt - t0, pushMs);
      const ok = code === 0 && v.converged && v.rows.every((x) => x.version === expected);
      // From the bundle's first sight in the store to every status showing it.
      const afterMs = convergedAt - seenAt;
      const [req1, cpu1, store1, m1] = [await store.requests(), children.reduce((a, c) => a + cpuOf(c.pid), 0), store.cpu(), machineCpu()];
      const s = ms / 1000;
      const notThere = v.rows.filter((x) => x.version !== expected);
      if (!ok) console.error(`${store.kind} ${name} push ${r}: not converged after ${ms} ms: ${notThere.length} of ${v.rows.length} instances on another version (${notThere.filter((x) => x.state === 'failed').length} failed: ${notThere.find((x) => x.state === 'failed')?.detail ?? '-'})`);
      rows.push({ ok, ms, pushMs, afterMs, reqPerS: (req1 - req0 - polls * store.pollRequests) / s, heldBefore, heldMax, instCpu: (cpu1 - cpu0) / s, storeCpu: (store1 - store0) / s, machine: (m1.busy - m0.busy) / (m1.total - m0.total) });
      await sleep(1000);
    }
    return { ...summarize(name, n, upMs, rows), firstFailed };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await admin.delete(BUNDLE_KEY).catch(() => {});
    await admin.close();
  }
}

function summarize(name, n, upMs, rows) {
  const good = rows.filter((r) => r.ok);
  const times = good.map((r) => r.ms);
  const mean = (f) => good.reduce((a, r) => a + f(r), 0) / Math.max(1, good.length);
  return {
    name,
    n,
    upMs,
    runs: good.length,
    push50: pct(good.map((r) => r.pushMs), 50),
    after50: pct(good.map((r) => r.afterMs), 50),
    after99: pct(good.map((r) => r.afterMs), 99),
    p50: pct(times, 50),
    p99: pct(times, 99),
    max: times.length ? Math.max(...times) : NaN,
    reqPerS: mean((r) => r.reqPerS),
    heldBefore: Math.round(mean((r) => r.heldBefore)),
    heldMax: good.length ? Math.max(...good.map((r) => r.heldMax)) : NaN,
    instCpu: mean((r) => r.instCpu),
    storeCpu: mean((r) => r.storeCpu),
    machine: mean((r) => r.machine),
  };
}

const summary = [];
try {
  console.log(`node ${process.version}, ${cpus().length} CPUs, load average at start ${loadavg().map((x) => x.toFixed(1)).join(' ')}; ${RUNS} pushes per fleet; separate processes; instances' --render-timeout ${RENDER_TIMEOUT ?? 'at its default'}`);
  for (const kind of STORES) {
    const store = await openBench(kind);
    try {
      const one = await series(store, 'one', 1);
      const many = await series(store, 'many', INSTANCES);
      console.log(`\n${kind}: ${store.cpuWhat}; ${store.heldWhat}`);
      table(
        ['fleet', 'started in', 'pushes converged', 'push → converged p50', 'p99', 'max', '`push` command p50', 'in the store → converged p50 / p99', 'store requests/s', `${store.heldWhat} (idle → max)`, 'instances CPU (cores)', 'store CPU (cores)', 'machine busy'],
        [one, many].map((r) => [
          r.n === 1 ? '1 process (baseline)' : `${r.n} processes`,
          `${(r.upMs / 1000).toFixed(1)} s${r.firstFailed ? ` (${r.firstFailed} first render(s) failed)` : ''}`,
          `${r.runs} of ${RUNS}`,
          `${r.p50} ms`,
          `${r.p99} ms`,
          `${r.max} ms`,
          `${r.push50} ms`,
          `${r.after50} / ${r.after99} ms`,
          r.reqPerS.toFixed(0),
          `${r.heldBefore} → ${r.heldMax}`,
          r.instCpu.toFixed(2),
          r.storeCpu.toFixed(2),
          `${(r.machine * 100).toFixed(0)} %`,
        ]),
      );
      summary.push(`${kind}: ${INSTANCES} processes p50 ${many.p50} ms / p99 ${many.p99} ms (goal p99 ≤ 1000 ms: ${many.p99 <= 1000 && many.runs === RUNS ? 'met' : 'missed'}), ${(many.p99 / one.p99).toFixed(2)}× one process (p99 ${one.p99} ms)`);
    } finally {
      await store.stop();
    }
  }
  console.log(`\nload average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`fleet: ${summary.join('; ')}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
