#!/usr/bin/env node
// bench/soak: a watching confd-haproxy (the bin, as in production) over the Consul double with the
// shipped resource and templates, driven through thousands of changes and backend flaps. Prints
// the reloads, whether the final haproxy.cfg matches the store (`plan` exits 0), and the
// renderer's RSS and open FDs over time, so a later change can be held against these figures.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulStore } from '@confd-haproxy/kv';
import { startConsulDouble } from '@confd-haproxy/testkit';
import { sleep, table, until } from './lib.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const CHANGES = Number(process.env.BENCH_CHANGES ?? 5000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 180);
const FLAP_EVERY = Number(process.env.BENCH_FLAP_EVERY ?? 100);
const TAGS = 20;

const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-soak-'));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const reloads = join(dir, 'RELOADS');
mkdirSync(join(dir, 'conf.d'));
mkdirSync(join(dir, 'out'));
symlinkSync(join(root, 'templates'), join(dir, 'templates'));
writeFileSync(
  join(dir, 'conf.d/haproxy.toml'),
  readFileSync(join(root, 'conf.d/haproxy.toml'), 'utf8')
    .replace('dest = "/etc/haproxy/haproxy.cfg"', `dest = "${join(dir, 'out/haproxy.cfg')}"`)
    .replace('reload_cmd = "systemctl reload haproxy"', `reload_cmd = "echo x >> ${reloads}"`)
    .replace(/^runtime_socket = .*$/m, ''),
);

const double = await startConsulDouble({ recordRequests: false });
const store = createConsulStore({ address: double.address });
const mem = (i, weights, maint = -1) =>
  JSON.stringify({ name: `m${i}`, host: '127.0.0.1', port: 20000 + i * 10, proxyport: 30000 + i, servers: weights.map((weight, j) => ({ host: '127.0.0.1', port: 20000 + i * 10 + j, weight, role: j === maint ? 'maint' : j ? 'backup' : 'active' })) });
const slave = (i, port) => JSON.stringify({ name: `s${i}`, host: '127.0.0.1', port, proxyport: 40000 + i });
const weights = Array.from({ length: TAGS }, () => [100, 100, 100]);
for (let i = 0; i < TAGS; i++) {
  await store.put(`haproxy/memcached/m${i}`, mem(i, weights[i]));
  await store.put(`haproxy/mysqlslave/s${i}`, slave(i, 3300 + i));
}

const env = { PATH: process.env.PATH ?? '', HAPROXY_STATS_SOCKET: join(dir, 'stats.sock') };
const common = ['--backend', 'consul', '--node', double.address, '--confdir', dir, '--state-dir', join(dir, 'state')];
const renderer = spawn(process.execPath, [bin, '--watch', '--log-level', 'warn', ...common], { env, stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
renderer.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
const dest = join(dir, 'out/haproxy.cfg');
const samples = [];
const sample = () => {
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${renderer.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    samples.push({ at: Date.now(), rss, fds: readdirSync(`/proc/${renderer.pid}/fd`).length });
  } catch {
    // the renderer exited: the summary says so
  }
};
const reloadCount = () => (existsSync(reloads) ? readFileSync(reloads, 'utf8').split('\n').filter(Boolean).length : 0);

try {
  if (!(await until(() => existsSync(dest), 30_000, 50))) throw new Error(`the renderer never wrote ${dest}: ${stderr}`);
  sample();
  const sampler = setInterval(sample, 1000);
  const started = Date.now();
  let flaps = 0;
  for (let n = 0; n < CHANGES; n++) {
    const i = n % TAGS;
    if (n % FLAP_EVERY === FLAP_EVERY - 1) {
      // A flap: the active server goes into maintenance, then comes back.
      await store.put(`haproxy/memcached/m${i}`, mem(i, weights[i], 0));
      await store.put(`haproxy/memcached/m${i}`, mem(i, weights[i]));
      flaps++;
    } else if (n % 7 === 0) await store.put(`haproxy/mysqlslave/s${i}`, slave(i, 3300 + ((n / 7) % 50)));
    else {
      weights[i][n % 3] = 1 + (n % 256);
      await store.put(`haproxy/memcached/m${i}`, mem(i, weights[i]));
    }
    // Spread the changes over SECONDS.
    const due = started + ((n + 1) * SECONDS * 1000) / CHANGES;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  const driven = Date.now() - started;
  // Settled: no new reload for 3 s (bounded).
  let last = -1;
  for (let i = 0; i < 60 && reloadCount() !== last; i++) {
    last = reloadCount();
    await sleep(3000);
  }
  clearInterval(sampler);
  sample();
  const plan = await new Promise((done) => execFile(process.execPath, [bin, 'plan', ...common], { env }, (err, out) => done({ code: err ? err.code : 0, out })));
  const pick = (k) => [samples[0], samples[Math.floor(samples.length / 2)], samples.at(-1)].map((s) => (s ? (k === 'rss' ? s.rss.toFixed(1) : String(s.fds)) : '-')).join(' → ');
  table(['changes', 'flaps', 'seconds', 'reloads', 'final state matches the store', 'RSS MB (start → mid → end)', 'FDs (start → mid → end)'], [
    [String(CHANGES), String(flaps), (driven / 1000).toFixed(0), String(reloadCount()), plan.code === 0 ? 'yes' : `NO (plan exit ${plan.code})`, pick('rss'), pick('fds')],
  ]);
  console.log(`soak: ${CHANGES} changes and ${flaps} flaps in ${(driven / 1000).toFixed(0)} s → ${reloadCount()} reloads; final state ${plan.code === 0 ? 'matches' : 'DOES NOT match'} the store; RSS ${pick('rss')} MB; FDs ${pick('fds')}; renderer ${renderer.exitCode === null ? 'alive' : `exited ${renderer.exitCode}`}`);
  if (plan.code !== 0) process.exitCode = 1;
} finally {
  renderer.kill('SIGTERM');
  await until(() => renderer.exitCode !== null || renderer.signalCode !== null, 10_000, 50);
  if (renderer.exitCode === null && renderer.signalCode === null) renderer.kill('SIGKILL');
  await store.close();
  await double.close();
  rmSync(dir, { recursive: true, force: true });
}
