// Runs node-tap test files, each in its own Node process, a few at a time, and writes one TAP
// stream: each file's own TAP as a subtest, then the run's count as node-tap's runner writes it
// ("# { total: N, pass: N, fail: N }").
//
// Why not node-tap's runner: it loads a coverage loader (@tapjs/processinfo) into every test
// process, which cannot be switched off and, on Node 20, runs every module load through a loader
// thread: ~0.45 s of CPU per file before its first test, a third of the unit tier. This project
// collects no coverage. The test files themselves are node-tap's (`import t from 'tap'`) and run
// the same under either runner; `npx tap <file>` still runs one with node-tap's.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** A file's own count, from the last line node-tap writes at its top level. */
function countOf(output) {
  const last = output.split('\n').filter((l) => l.startsWith('# { total:')).pop() ?? '';
  const n = (name) => Number(new RegExp(`${name}: (\\d+)`).exec(last)?.[1] ?? 0);
  return { found: last !== '', total: n('total'), pass: n('pass'), fail: n('fail'), skip: n('skip'), todo: n('todo') };
}

/** A file's TAP as a subtest: indented, without its own version line. */
const indent = (text) =>
  text
    .split('\n')
    .filter((l, i, all) => !l.startsWith('TAP version') && (i < all.length - 1 || l !== ''))
    .map((l) => (l ? `    ${l}` : ''))
    .join('\n');

/** Stops a file's process: TERM, so it can stop what it started (testkit stops services on it), then KILL. */
function stop(child, graceMs = 5000) {
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
}

/**
 * Runs `files` (paths relative to cwd) with `jobs` at a time; each file gets `timeoutS`, which its
 * node-tap enforces itself (TAP_TIMEOUT) and this runner, `graceS` later, by stopping its process
 * (a file whose event loop is blocked never reaches its own timeout).
 * `write` receives the TAP stream. Resolves to the run's count.
 */
export async function runTapFiles(files, { jobs, timeoutS, write, graceS = 30, nodeArgs = ['--enable-source-maps'] }) {
  const started = performance.now();
  const sum = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
  const running = new Set();
  let next = 0;
  let id = 0;
  // Stopped itself, it passes the signal on to the files running (each stops what it started),
  // then ends as the signal would have ended it.
  const onSignal = (sig) => {
    running.forEach((c) => c.kill(sig));
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  write('TAP version 14\n');

  const runOne = (file) =>
    new Promise((done) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, [...nodeArgs, file], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, TAP_TIMEOUT: String(timeoutS) },
      });
      running.add(child);
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stop(child);
      }, (timeoutS + graceS) * 1000);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        running.delete(child);
        const c = countOf(out);
        for (const k of Object.keys(sum)) sum[k] += c[k];
        const failed = c.fail > 0 || code !== 0 || signal !== null || !c.found;
        if (failed && c.fail === 0) sum.fail += 1; // it ended badly without a failed assertion to count
        const ms = (performance.now() - t0).toFixed(3);
        const why = failed ? `  ---\n  exitCode: ${code}\n  signal: ${signal}\n${timedOut ? `  timedOut: ${timeoutS + graceS} s\n` : ''}  ...\n` : '';
        write(`# Subtest: ${file}\n${indent(out)}\n${failed ? 'not ok' : 'ok'} ${++id} - ${file} # time=${ms}ms\n${why}\n`);
        done();
      });
    });

  const lane = async () => {
    while (next < files.length) await runOne(files[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, lane));
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  const counts = Object.entries(sum)
    .filter(([k, v]) => k === 'total' || v > 0)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  write(`1..${files.length}\n# { ${counts} }\n# time=${(performance.now() - started).toFixed(3)}ms\n`);
  return sum;
}
