#!/usr/bin/env node
// bench/failover: time from SIGKILL / SIGSTOP of the active memcached to the first new client
// connection through HAProxy answered by the healthy one. Ours (checker at 500 ms → store →
// renderer → checked seamless reload) against HAProxy alone (`inter 2s fall 3`, backup server).
import { startMemcached } from '@confd-haproxy/testkit';
import { pct, sleep, table } from './lib.mjs';
import { haproxyOnly, system, whoAnswers } from './system.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
// BENCH_DEFAULTS=1: the checker and renderer at the bins' defaults (interval 1s, timeout 500ms, --wait 200ms:2s).
const DEFAULTS = process.env.BENCH_DEFAULTS === '1';
const ours = DEFAULTS ? (a, b) => system(a, b, { intervalMs: 1000, timeoutMs: 500, wait: { minMs: 200, maxMs: 2000 } }) : system;
const oursName = DEFAULTS ? 'confd-haproxy (defaults: checker 1 s / 500 ms, --wait 200ms:2s)' : 'confd-haproxy (checker 500 ms)';

async function once(make, sig) {
  const a = await startMemcached();
  const b = await startMemcached();
  const sys = await make(a, b);
  try {
    const deadline = Date.now() + 20_000;
    while ((await whoAnswers(sys.port)) !== a.pid) {
      if (Date.now() > deadline) throw new Error('the system never routed to the first memcached');
      await sleep(50);
    }
    await sleep(Math.random() * 500);
    const t0 = Date.now();
    a.kill(sig);
    // A new connection every 20 ms (each may hang up to 1 s on the dead server): the first answer
    // from the healthy one ends the run.
    let answered = 0;
    const pending = [];
    while (!answered && Date.now() - t0 < 30_000) {
      pending.push(whoAnswers(sys.port).then((pid) => {
        if (pid === b.pid && !answered) answered = Date.now();
      }));
      await sleep(20);
    }
    await Promise.all(pending);
    return answered ? answered - t0 : NaN;
  } finally {
    await sys.stop();
    await a.stop();
    await b.stop();
  }
}

const rows = [];
let worst = 0;
for (const [name, make] of [[oursName, ours], ['HAProxy alone (inter 2s fall 3)', haproxyOnly]]) {
  for (const sig of ['SIGKILL', 'SIGSTOP']) {
    const ts = [];
    for (let i = 0; i < RUNS; i++) ts.push(await once(make, sig));
    const ok = ts.filter(Number.isFinite);
    rows.push([name, sig, `${ok.length}/${RUNS}`, `${pct(ok, 50)} ms`, `${pct(ok, 99)} ms`]);
    if (make === ours) worst = Math.max(worst, pct(ok, 99));
  }
}
table(['system', 'signal', 'runs', 'p50', 'p99'], rows);
console.log(`failover: confd-haproxy worst p99 ${worst} ms at ${DEFAULTS ? 'the defaults' : 'a 500 ms check interval'} (goal ≤ 1500 ms)`);
