// A template is input from someone else (a bundle signer, a copied confdir). One that loops for
// ever or grows without end must cost its own render, never the renderer: the render stops at
// --render-timeout or --render-max-size, the old dest stays, the watcher goes on, and /livez and
// SIGTERM keep working while the bad render runs. Every wait here is bounded: on code without the
// budget the bin spins for hours, so each test fails at its bound and its teardown SIGKILLs the child.
import t from 'tap';
import type { Test } from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, killAndWait, waitWhileAlive } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(root, 'packages/cli/bin/confd-haproxy.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ten billion iterations: the reproduction. */
const LOOP = '{{#each (seq 1 99999)}}{{#each (seq 1 99999)}}x{{/each}}{{/each}}';
/** 100 MiB in about a second: 100 × 1024 lines of 1 KiB. */
const HUGE = `{{#each (seq 1 100)}}{{#each (seq 1 1024)}}${'y'.repeat(1023)}\n{{/each}}{{/each}}`;
const FIXED = 'fixed {{getv "/haproxy/name"}}\n';
const OLD = 'old config\n';

/** A confdir with one resource over the file store, its dest holding OLD. */
function confdir(t: Test, template: string): string {
  return t.testdir({
    'conf.d': { 'budget.toml': '[template]\nsrc = "budget.hbs"\ndest = "out/budget.cfg"\nkeys = ["/haproxy"]\n' },
    templates: { 'budget.hbs': template },
    out: { 'budget.cfg': OLD },
    'kv.json': JSON.stringify({ 'haproxy/name': 'web' }),
  });
}
const storeArgs = (dir: string) => ['--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--state-dir', join(dir, 'state')];
const dest = (dir: string) => readFileSync(join(dir, 'out/budget.cfg'), 'utf8');

/** A run to its end, SIGKILLed at the bound (SIGTERM would not reach a spinning process). */
const run = (args: string[], boundMs: number) =>
  new Promise<{ code: number | null; out: string }>((done) =>
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: boundMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: `${stdout}\n${stderr}` }),
    ),
  );

interface Watcher {
  child: ChildProcess;
  port: number;
  /** Everything it logged so far. */
  log(): string;
}

/** confd-haproxy --watch with --listen, killed by PID when the test ends. */
async function startWatcher(t: Test, dir: string, extra: string[] = []): Promise<Watcher> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, '--watch', ...storeArgs(dir), '--listen', `127.0.0.1:${port}`, '--wait', '50ms:200ms', ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  t.teardown(() => killAndWait(child));
  return { child, port, log: () => log };
}

/** Whether holds() comes true within boundMs while the watcher runs. */
const eventually = (w: Watcher, what: string, holds: () => boolean | Promise<boolean>, boundMs: number) =>
  waitWhileAlive(w.child.pid!, what, async () => ((await holds()) ? true : undefined), { timeoutMs: boundMs, intervalMs: 100 }).then(
    () => true,
    () => false,
  );

/** The CPU time (user + system, in seconds) a process has used: a spinning render makes it climb. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** /livez, answered within 1 s (a Kubernetes probe's default timeoutSeconds), or not. */
async function livez(port: number): Promise<{ ok: boolean; ms: number }> {
  const t0 = Date.now();
  try {
    const r = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(1000) });
    return { ok: r.status === 200, ms: Date.now() - t0 };
  } catch {
    return { ok: false, ms: Date.now() - t0 };
  }
}

const exited = (child: ChildProcess, boundMs: number) =>
  new Promise<number | null | 'still running'>((done) => {
    if (child.exitCode !== null) return done(child.exitCode);
    const timer = setTimeout(() => done('still running'), boundMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done(code);
    });
  });

t.test('while a template loops, /livez answers within 1 s and SIGTERM ends the process', async (t) => {
  const dir = confdir(t, LOOP);
  const w = await startWatcher(t, dir);
  t.ok(await eventually(w, '/livez', async () => (await livez(w.port)).ok, 20_000), '/livez answers once the watcher is up');
  const before = cpuSeconds(w.child.pid!);
  t.ok(await eventually(w, 'the looping render', () => cpuSeconds(w.child.pid!) - before >= 1, 20_000), 'the looping render is burning CPU');
  for (let i = 0; i < 3; i++) {
    const probe = await livez(w.port);
    t.ok(probe.ok, `/livez answered in ${probe.ms} ms while the template loops (probe ${i + 1})`);
    await sleep(300);
  }
  t.equal(dest(dir), OLD, 'dest untouched while the render runs');
  const t0 = Date.now();
  w.child.kill('SIGTERM');
  const code = await exited(w.child, 5000);
  t.equal(code, 0, `SIGTERM ended the process (${Date.now() - t0} ms)`);
  t.match(w.log(), /ERROR conf\.d\/budget\.toml: stopped while rendering; \S+out\/budget\.cfg left as it was/, 'the render in progress was stopped, and said so');
  t.equal(dest(dir), OLD, 'dest still holds the old configuration');
});

t.test('a looping template is stopped at the time limit: dest stays, the watcher goes on and renders the fixed template', async (t) => {
  const dir = confdir(t, LOOP);
  // A short limit: at the default (10 s, see --help below) the loop would burn a core for 10 s.
  const w = await startWatcher(t, dir, ['--render-timeout', '1s']);
  t.ok(await eventually(w, 'the time limit', () => /render time limit/.test(w.log()), 25_000), 'the render is stopped and the failure logged');
  t.match(w.log(), /ERROR conf\.d\/budget\.toml: budget\.hbs: rendering took longer than 1 s, the render time limit \(--render-timeout\); it was stopped; \S+out\/budget\.cfg left as it was/);
  t.equal(dest(dir), OLD, 'dest keeps the old configuration');
  t.equal(w.child.exitCode, null, 'the watcher is still running');
  writeFileSync(join(dir, 'templates/budget.hbs'), FIXED);
  t.ok(await eventually(w, 'the fixed render', () => dest(dir) === 'fixed web\n', 20_000), 'the fixed template renders into dest');
  t.equal(dest(dir), 'fixed web\n');
  await killAndWait(w.child);
});

t.test('a template that outgrows the size limit fails fast, and -onetime exits 65', async (t) => {
  const dir = confdir(t, HUGE);
  const r = await run(['--onetime', ...storeArgs(dir)], 40_000);
  t.equal(r.code, 65, 'exit 65: bad input');
  t.match(r.out, /ERROR conf\.d\/budget\.toml: budget\.hbs:1:\d+: the output grew past 64 MiB, the render size limit \(--render-max-size\); rendering stopped; \S+out\/budget\.cfg left as it was/);
  t.equal(statSync(join(dir, 'out/budget.cfg')).size, OLD.length, 'dest was not replaced by the 100 MiB render');
});

t.test('push refuses a bundle whose template loops, and publishes nothing', async (t) => {
  const dir = confdir(t, LOOP);
  const r = await run(['push', ...storeArgs(dir), '--render-timeout', '2s'], 40_000);
  t.equal(r.code, 65, 'exit 65: refused');
  t.match(r.out, /not pushed, it does not load or render:\n\s+budget\.hbs: rendering took longer than 2 s/);
  t.notMatch(readFileSync(join(dir, 'kv.json'), 'utf8'), /\.config\/bundle/, 'no bundle in the store');
});

t.test('--render-timeout and --render-max-size set the limits', async (t) => {
  const loop = confdir(t, LOOP);
  t.match(await run(['--onetime', ...storeArgs(loop), '--render-timeout', '1s'], 40_000), { code: 65, out: /rendering took longer than 1 s/ });
  t.equal(dest(loop), OLD);
  const huge = confdir(t, HUGE);
  t.match(await run(['--onetime', ...storeArgs(huge), '--render-max-size', '1MB'], 40_000), { code: 65, out: /the output grew past 1 MiB/ });
  t.equal(dest(huge), OLD);
  t.match(await run(['--onetime', ...storeArgs(huge), '--render-max-size', 'lots'], 40_000), { code: 64, out: /--render-max-size: "lots" is not a size/ });
  t.match(await run(['--help'], 40_000), { code: 0, out: /--render-timeout <duration>[^]*?\(default: "10s"\)/ }, 'unset, the time limit is 10 s');
});
