#!/usr/bin/env node
// bench/failover: time from SIGKILL / SIGSTOP of the active memcached to the first new client
// connection through HAProxy answered by the healthy one. Ours (checker at 500 ms, timeout 300 ms,
// retry-down 1 → store → renderer → HAProxy's runtime API) against HAProxy alone given the same
// probe budget (`inter 500ms fall 1`, `timeout check 300ms`, backup server, on-marked-down
// shutdown-sessions) and against HAProxy's defaults (`inter 2s fall 3`), all in the same run. Ours
// runs with the heartbeat at its default period (BENCH_HEARTBEAT, ms), and for SIGSTOP once more
// without one, so the heartbeat's share is measured in the same run.
import { DEFAULT_HEARTBEAT_MS } from '@confd-haproxy/checker';
import { startMemcached } from '@confd-haproxy/testkit';
import { pct, sleep, table } from './lib.mjs';
import { HAPROXY_CHECKS, haproxyOnly, system, whoAnswers } from './system.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
// BENCH_DEFAULTS=1: the checker and renderer at the bins' defaults (interval 1s, timeout 500ms, --wait 200ms:2s).
const DEFAULTS = process.env.BENCH_DEFAULTS === '1';
const BUDGET = DEFAULTS ? { intervalMs: 1000, timeoutMs: 500 } : { intervalMs: 500, timeoutMs: 300 };
const HEARTBEAT = Number(process.env.BENCH_HEARTBEAT ?? DEFAULT_HEARTBEAT_MS);
const ours = (heartbeatMs) => (a, b) => system(a, b, { ...BUDGET, heartbeatMs, wait: { minMs: 200, maxMs: 2000 } });
const oursName = (heartbeatMs) => `confd-haproxy (checker ${BUDGET.intervalMs} ms, timeout ${BUDGET.timeoutMs} ms, retry-down 1, ${heartbeatMs ? `heartbeat ${heartbeatMs} ms` : 'no heartbeat'}${DEFAULTS ? ', the defaults' : ''})`;

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

const SYSTEMS = [
  ['ours', oursName(HEARTBEAT), ours(HEARTBEAT)],
  ...(HEARTBEAT ? [['ours-off', oursName(0), ours(0), ['SIGSTOP']]] : []),
  ['same', `HAProxy alone, same budget (inter ${BUDGET.intervalMs}ms fall 1, timeout check ${BUDGET.timeoutMs}ms)`, (a, b) => haproxyOnly(a, b, HAPROXY_CHECKS.sameBudget(BUDGET))],
  ['defaults', 'HAProxy alone, defaults (inter 2s fall 3)', (a, b) => haproxyOnly(a, b, HAPROXY_CHECKS.defaults)],
];
const rows = [];
const p = {};
for (const [id, name, make, sigs = ['SIGKILL', 'SIGSTOP']] of SYSTEMS) {
  for (const sig of sigs) {
    const ts = [];
    for (let i = 0; i < RUNS; i++) ts.push(await once(make, sig));
    const ok = ts.filter(Number.isFinite);
    p[`${id} ${sig}`] = { p50: pct(ok, 50), p99: pct(ok, 99) };
    rows.push([name, sig, `${ok.length}/${RUNS}`, `${pct(ok, 50)} ms`, `${pct(ok, 99)} ms`]);
  }
}
table(['system', 'signal', 'runs', 'p50', 'p99'], rows);
const ratio = (sig, q) => (p[`ours ${sig}`][q] / p[`same ${sig}`][q]).toFixed(2);
for (const sig of ['SIGKILL', 'SIGSTOP']) console.log(`${sig}: confd-haproxy / HAProxy same budget: p50 ${ratio(sig, 'p50')}×, p99 ${ratio(sig, 'p99')}×`);
const killOk = p['ours SIGKILL'].p99 <= 300 && p['ours SIGKILL'].p99 < p['same SIGKILL'].p50;
const stopOk = p['ours SIGSTOP'].p99 <= p['same SIGSTOP'].p99;
// With the heartbeat, a hung server is found within heartbeat + timeout rather than interval + timeout.
const stopRatio = p['ours SIGSTOP'].p99 / p['same SIGSTOP'].p99;
const beatOk = stopRatio <= 0.6;
console.log(
  `failover${DEFAULTS ? ' (defaults)' : ''}: SIGKILL p99 ${p['ours SIGKILL'].p99} ms (goal ≤ 300 ms and below HAProxy same-budget p50 ${p['same SIGKILL'].p50} ms: ${killOk ? 'met' : 'NOT met'}); ` +
    `SIGSTOP p99 ${p['ours SIGSTOP'].p99} ms (goal ≤ HAProxy same-budget p99 ${p['same SIGSTOP'].p99} ms: ${stopOk ? 'met' : 'NOT met'}; ` +
    `with the heartbeat goal ≤ 0.6× it: ${stopRatio.toFixed(2)}×, ${beatOk ? 'met' : 'NOT met'}${p['ours-off SIGSTOP'] ? `; without the heartbeat ${p['ours-off SIGSTOP'].p99} ms` : ''})`,
);
