#!/usr/bin/env node
// bench/scale: TARGETS memcached-protocol targets (loopback listeners made here) checked by ONE
// process at a 1 s interval, for each size in BENCH_TARGETS (default 500 and 5,000). Prints that
// process's CPU share of one core, CPU per probe and RSS, beside the original's one Perl process
// per tag (~24 MB RSS each). Then a watching renderer with nothing to do, on the file store and on
// Consul (the project's double): its idle CPU and RSS. Each size runs once per heartbeat setting in
// BENCH_HEARTBEATS (period in ms, optionally :budget a second, 0 = no limit; default "0,100": without
// one, then at the bins' defaults), so the heartbeat's cost is a difference measured in the same run.
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEARTBEAT_BUDGET, DEFAULT_HEARTBEAT_MS, heartbeatPeriod } from '@confd-haproxy/checker';
import { createConsulStore, createFileStore } from '@confd-haproxy/kv';
import { startConsulDouble } from '@confd-haproxy/testkit';
import { sleep, table } from './lib.mjs';

const SIZES = (process.env.BENCH_TARGETS ?? '500,5000').split(',').map(Number);
// The same first size once more with a smaller young generation (NODE_OPTIONS for a checker): RSS against CPU.
const SEMI_SPACE_MB = Number(process.env.BENCH_SEMI_SPACE_MB ?? 2);
const HEARTBEATS = (process.env.BENCH_HEARTBEATS ?? `0,${DEFAULT_HEARTBEAT_MS}`).split(',').map((x) => {
  const [ms, budget] = x.split(':').map(Number);
  return { heartbeatMs: ms, budget: budget ?? DEFAULT_HEARTBEAT_BUDGET };
});
const SHAPES = [{ targets: SIZES[0], flags: [] }, ...(SEMI_SPACE_MB > 0 ? [{ targets: SIZES[0], flags: [`--max-semi-space-size=${SEMI_SPACE_MB}`] }] : []), ...SIZES.slice(1).map((targets) => ({ targets, flags: [] }))];
const RUNS = SHAPES.flatMap((shape) => HEARTBEATS.map((hb) => ({ ...shape, ...hb })));
/** "100 ms (budget 500/s: every 500 ms)", "off". */
const heartbeatLabel = (r) => {
  if (!r.heartbeatMs) return 'off';
  const every = heartbeatPeriod(r.heartbeatMs, r.targets / 2, r.budget);
  return `${r.heartbeatMs} ms, ${r.budget ? `budget ${r.budget}/s` : 'no budget'}${every !== r.heartbeatMs ? `: every ${every} ms` : ''}`;
};
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const SETTLE_MS = 180_000;

/** Minimal memcached text protocol: set → STORED, get → VALUE/END, delete noreply → nothing, version → VERSION. */
async function listeners(n) {
  const store = new Map();
  const servers = [];
  for (let i = 0; i < n; i++) {
    const srv = createServer((s) => {
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
        for (;;) {
          const nl = buf.indexOf('\r\n');
          if (nl < 0) return;
          const line = buf.slice(0, nl);
          const [cmd, key, , , len] = line.split(' ');
          if (cmd === 'set') {
            const end = nl + 2 + Number(len) + 2;
            if (buf.length < end) return;
            store.set(key, buf.slice(nl + 2, end - 2));
            buf = buf.slice(end);
            s.write('STORED\r\n');
          } else {
            buf = buf.slice(nl + 2);
            if (cmd === 'get') {
              const v = store.get(key);
              s.write(v === undefined ? 'END\r\n' : `VALUE ${key} 0 ${v.length}\r\n${v}\r\nEND\r\n`);
            } else if (cmd === 'delete') store.delete(key);
            else if (cmd === 'version') s.write('VERSION 1.6.21\r\n');
          }
        }
      });
      s.on('error', () => {});
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    servers.push(srv);
  }
  return servers;
}

/** utime and stime of a process, in clock ticks (100/s). */
const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
};
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** CPU seconds (user + kernel) and peak RSS of a process over SECONDS of wall time. */
async function measureWindow(pid) {
  const t0 = ticks(pid);
  const w0 = Date.now();
  let peak = 0;
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000);
    peak = Math.max(peak, rss(pid));
  }
  const seconds = (Date.now() - w0) / 1000;
  const t1 = ticks(pid);
  const used = t1.user + t1.sys - t0.user - t0.sys;
  return { seconds, cpuSeconds: used / 100, sysShare: (t1.sys - t0.sys) / Math.max(1, used), peak };
}

/** SIGTERM a bench child and take the stats it sends on the way out (or none, if it died first). */
async function stopChild(child) {
  const exited = new Promise((r) => child.once('exit', r));
  const stats = new Promise((r) => child.on('message', (m) => typeof m === 'object' && r(m)));
  child.kill('SIGTERM');
  const last = await Promise.race([stats, exited.then(() => ({ writes: NaN, memory: undefined }))]);
  await exited;
  return last;
}

async function measure({ targets, flags, heartbeatMs, budget }) {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-'));
  const servers = await listeners(targets);
  const ports = servers.map((s) => s.address().port);
  const child = fork(fileURLToPath(new URL('./scale-child.mjs', import.meta.url)), [join(dir, 'kv.json'), ports.join(',')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: flags, env: { ...process.env, BENCH_HEARTBEAT_MS: String(heartbeatMs), BENCH_HEARTBEAT_BUDGET: String(budget) } });
  const said = (what, ms) => new Promise((done) => {
    const t = setTimeout(() => done(false), ms);
    child.on('message', (m) => {
      if (m === what) {
        clearTimeout(t);
        done(true);
      }
    });
  });
  try {
    if (!(await said('ready', 60_000))) throw new Error('the checker process did not start');
    // Every tag writes its first entry (the file store serialises them); then JIT and caches settle.
    if (!(await said('settled', SETTLE_MS))) throw new Error(`not every tag had an entry within ${SETTLE_MS} ms`);
    await sleep(3000);
    child.send('measure');
    const { seconds, cpuSeconds, sysShare, peak } = await measureWindow(child.pid);
    const { writes, memory } = await stopChild(child);
    const probes = targets * seconds;
    return { targets, flags, heartbeatMs, budget, cpu: (cpuSeconds / seconds) * 100, perProbeMs: (cpuSeconds * 1000) / probes, sysShare, peak, writes, memory };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A watching renderer on `backend` with nothing to do: CPU share and RSS over SECONDS. */
async function idle(backend) {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-'));
  const double = backend === 'consul' ? await startConsulDouble({ recordRequests: false }) : undefined;
  const where = double ? double.address : join(dir, 'kv.json');
  const store = double ? createConsulStore({ address: where }) : createFileStore({ file: where });
  const entry = { name: 'mem', host: '127.0.0.1', port: 11211, proxyport: 16211, servers: [{ host: '127.0.0.1', port: 11211, weight: 100, role: 'active' }], version: 1 };
  await store.put('haproxy/memcached/mem', JSON.stringify(entry));
  await store.close();
  mkdirSync(join(dir, 'conf.d'));
  symlinkSync(fileURLToPath(new URL('../templates', import.meta.url)), join(dir, 'templates'));
  writeFileSync(join(dir, 'conf.d/haproxy.toml'), `[template]\nsrc = "haproxy.cfg.hbs"\ndest = "${join(dir, 'haproxy.cfg')}"\nkeys = ["/haproxy/mysqlslave", "/haproxy/memcached", "/haproxy/redis", "/haproxy/galera"]\n`);
  const child = fork(fileURLToPath(new URL('./idle-child.mjs', import.meta.url)), [backend, where, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const rendered = await new Promise((done) => {
      const t = setTimeout(() => done(false), 60_000);
      child.on('message', (m) => m === 'rendered' && (clearTimeout(t), done(true)));
    });
    if (!rendered) throw new Error(`the renderer on ${backend} never rendered`);
    await sleep(3000);
    const { seconds, cpuSeconds, peak } = await measureWindow(child.pid);
    const { memory } = await stopChild(child);
    return { backend, cpu: (cpuSeconds / seconds) * 100, peak, memory };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await double?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const run of RUNS) results.push(await measure(run));
const idles = [];
for (const backend of (process.env.BENCH_IDLE ?? 'file,consul').split(',').filter(Boolean)) idles.push(await idle(backend));
table(
  ['targets (tags × 2) in one process', 'heartbeat', 'node flags', 'CPU, share of one core (of it in the kernel)', 'CPU per probe', 'peak RSS', 'entries written while measured', 'the original: one Perl process per tag'],
  results.map((r) => [String(r.targets), heartbeatLabel(r), r.flags.join(' ') || 'none', `${r.cpu.toFixed(1)} % (${(r.sysShare * 100).toFixed(0)} %)`, `${r.perProbeMs.toFixed(3)} ms`, `${r.peak.toFixed(0)} MB`, String(r.writes), `${r.targets / 2} × ~24 MB ≈ ${((r.targets / 2) * 24 / 1024).toFixed(1)} GB`]),
);
const mb = (n) => `${(n / 1048576).toFixed(0)} MB`;
for (const r of results) {
  if (r.memory) console.log(`${r.targets} targets${r.flags.length ? ` (${r.flags.join(' ')})` : ''}, heartbeat ${heartbeatLabel(r)}, at the end: RSS ${mb(r.memory.rss)} = V8 heap ${mb(r.memory.heapTotal)} (${mb(r.memory.heapUsed)} used) + buffers ${mb(r.memory.external)} + code, stacks and the rest ${mb(r.memory.rss - r.memory.heapTotal - r.memory.external)}`);
}
for (const b of results.filter((r) => r.targets !== results[0].targets && r.flags.length === 0)) {
  const a = results.find((r) => r.targets === results[0].targets && r.flags.length === 0 && r.heartbeatMs === b.heartbeatMs && r.budget === b.budget);
  if (!a) continue;
  console.log(`growth ${a.targets} → ${b.targets} targets, heartbeat ${heartbeatLabel(b)} (${(b.targets / a.targets).toFixed(0)}×): CPU ${(b.cpu / a.cpu).toFixed(1)}×, RSS ${(b.peak / a.peak).toFixed(2)}× (+${(b.peak - a.peak).toFixed(0)} MB, ${(((b.peak - a.peak) * 1024) / (b.targets - a.targets)).toFixed(1)} KB per target)`);
}
if (idles.length) {
  table(
    ['watching renderer, nothing to do', 'CPU, share of one core', 'peak RSS', 'at the end: V8 heap (used) + buffers + code, stacks and the rest'],
    idles.map((r) => [r.backend === 'consul' ? 'on Consul (the double)' : 'on the file store', `${r.cpu.toFixed(2)} %`, `${r.peak.toFixed(0)} MB`, r.memory ? `${mb(r.memory.heapTotal)} (${mb(r.memory.heapUsed)}) + ${mb(r.memory.external)} + ${mb(r.memory.rss - r.memory.heapTotal - r.memory.external)}` : '?']),
  );
  console.log(`idle: a watching renderer at ${idles.map((r) => `${r.cpu.toFixed(2)} % / ${r.peak.toFixed(0)} MB on ${r.backend}`).join(', ')} (goal ~0.2 % of one core)`);
}
// The heartbeat's cost: each run against the run of the same shape without one.
for (const r of results.filter((x) => x.heartbeatMs)) {
  const base = results.find((x) => x.targets === r.targets && x.flags.join() === r.flags.join() && !x.heartbeatMs);
  const perSecond = ((r.targets / 2) * 1000) / heartbeatPeriod(r.heartbeatMs, r.targets / 2, r.budget);
  if (base) console.log(`heartbeat ${heartbeatLabel(r)} at ${r.targets} targets${r.flags.length ? ` (${r.flags.join(' ')})` : ''}: CPU ${base.cpu.toFixed(1)} → ${r.cpu.toFixed(1)} % (+${(r.cpu - base.cpu).toFixed(1)} points, ${(r.cpu / base.cpu).toFixed(2)}×), peak RSS ${base.peak.toFixed(0)} → ${r.peak.toFixed(0)} MB; ${perSecond.toFixed(0)} heartbeats/s at most, ${(((r.cpu - base.cpu) / 100) * 1e6 / perSecond).toFixed(0)} µs CPU each`);
}
// The goal is read at the shipped default heartbeat, Node's default flags, the first size.
const first = results.find((r) => r.flags.length === 0 && r.heartbeatMs === DEFAULT_HEARTBEAT_MS && r.budget === DEFAULT_HEARTBEAT_BUDGET) ?? results[0];
console.log(`scale: ${first.targets} targets at 1 s, heartbeat ${heartbeatLabel(first)}: ${first.cpu.toFixed(1)} % of one core (goal ≤ 5 %), ${first.perProbeMs.toFixed(3)} ms CPU per probe (goal ≤ 0.1 ms), ${first.peak.toFixed(0)} MB RSS (goal ≤ 100 MB)`);
