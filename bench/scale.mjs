#!/usr/bin/env node
// bench/scale: TARGETS memcached-protocol targets (loopback listeners made here) checked by ONE
// process at a 1 s interval. Prints that process's CPU share of one core and RSS, beside the
// original's one Perl process per tag (~24 MB RSS each).
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, table } from './lib.mjs';

const TARGETS = Number(process.env.BENCH_TARGETS ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-'));

// Minimal memcached text protocol: set → STORED, get → VALUE/END, delete noreply → nothing.
const store = new Map();
const servers = [];
for (let i = 0; i < TARGETS; i++) {
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
        }
      }
    });
    s.on('error', () => {});
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  servers.push(srv);
}
const ports = servers.map((s) => s.address().port);
const child = fork(fileURLToPath(new URL('./scale-child.mjs', import.meta.url)), [join(dir, 'kv.json'), ports.join(',')], { stdio: 'inherit', execArgv: process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROF] : [] });
await new Promise((r) => child.once('message', r));
await sleep(5000); // warm-up: first writes, JIT
const ticks = () => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
};
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
const t0 = ticks();
const w0 = Date.now();
let peak = 0;
for (let i = 0; i < SECONDS; i++) {
  await sleep(1000);
  peak = Math.max(peak, rss());
}
const cpu = ((ticks() - t0) / 100) / ((Date.now() - w0) / 1000) * 100;
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
for (const s of servers) s.close();
rmSync(dir, { recursive: true, force: true });
table(['what', 'value'], [
  ['targets (tags × 2) in one process', String(TARGETS)],
  ['CPU, share of one core', `${cpu.toFixed(1)} %`],
  ['peak RSS', `${peak.toFixed(0)} MB`],
  ['the original: one Perl process per tag', `${TARGETS / 2} × ~24 MB ≈ ${((TARGETS / 2) * 24 / 1024).toFixed(1)} GB`],
]);
console.log(`scale: ${TARGETS} targets at 1 s: ${cpu.toFixed(1)} % of one core (goal ≤ 5 %), ${peak.toFixed(0)} MB RSS (goal ≤ 100 MB)`);
