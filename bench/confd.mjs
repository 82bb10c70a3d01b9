#!/usr/bin/env node
// bench/confd: confd-haproxy beside the Go binary it replaces, real confd 0.17, in one run on one
// etcd: `-onetime` renders of BENCH_ENTRIES entries, a `-watch` left idle (CPU and RSS), one change
// until dest is rewritten, a burst of changes → reloads. Both render the original's memcached
// template (Go text/template for confd, the same in Handlebars for us) and must write the same bytes.
// Then start-up against `node -e 0`: `--version`, the quick start's `-onetime`, `checkmemcached --once`
// against a real memcached, each from the workspace build and from the one tarball installed.
// Prints two tables, a met/missed line per goal and a summary line.
//
// Ours: BENCH_BUILD=installed (the default: scripts/pack.mjs's tarball, `npm install -g`ed offline
// into a temp prefix, as users run it) or workspace (packages/cli/bin, over packages/*/dist) runs
// the rows against confd and is the build the goals judge; the start-up rows always show both.
//
// confd: CONFD_BIN, else a build of CONFD_SRC (a confd source checkout, vendored; built into a temp
// dir), else `confd` on PATH, else /tmp/confd; without one the confd rows are skipped.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startEtcd, startMemcached, startProcess, stopProcess } from '@confd-haproxy/testkit';
import { pct, sleep, table } from './lib.mjs';
import { memcachedGoTemplate, memcachedHbsTemplate } from './memcached-templates.mjs';

const SIZES = (process.env.BENCH_ENTRIES ?? '1000,10000').split(',').map(Number);
const STARTS = Number(process.env.BENCH_STARTS ?? 10); // runs of every short-lived process
const RUNS = Number(process.env.BENCH_RUNS ?? 20); // single changes
// The idle window: long enough to hold one of our watch's 60 s waits (the Consul-style blocking
// query's wait; confd's etcdv3 watch has none); on etcd a quiet one ends without reading the prefix.
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const SETTLE_MS = 12_000; // after the first render: start-up's last GCs (V8's memory reducer) are not idling
const BURST = Number(process.env.BENCH_BURST ?? 100);
const QUIET_MS = Number(process.env.BENCH_QUIET_MS ?? 5000);
const WAIT = process.env.BENCH_WAIT; // --wait for our watcher; unset: the renderer's default
const root = fileURLToPath(new URL('..', import.meta.url));
const BUILD = process.env.BENCH_BUILD ?? 'installed';
if (!['installed', 'workspace'].includes(BUILD)) throw new Error(`BENCH_BUILD=${BUILD}: installed or workspace`);
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const TOOLS = ['confd', 'ours'];

const work = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-confd-'));
const mb = (kb) => kb / 1024;
const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);
const fmtMb = (m) => `${m.toFixed(0)} MB`;
const median = (v) => pct(v, 50);
const executable = (f) => {
  try {
    accessSync(f, constants.X_OK);
    return statSync(f).isFile();
  } catch {
    return false;
  }
};

// --- confd: found, built or skipped ---------------------------------------------------------------
function buildConfd(src) {
  const out = join(work, 'confd-build');
  mkdirSync(out);
  console.error(`building confd from ${src} (go build, vendored) …`);
  const env = { ...process.env, GOFLAGS: '-mod=vendor', GOPROXY: 'off', CGO_ENABLED: '0', GOCACHE: process.env.GOCACHE ?? join(out, 'cache') };
  const r = spawnSync('go', ['build', '-o', join(out, 'confd'), '.'], { cwd: src, env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 });
  if (r.status !== 0) throw new Error(`go build in ${src} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
  return join(out, 'confd');
}
function findConfd() {
  if (process.env.CONFD_BIN) {
    if (!executable(process.env.CONFD_BIN)) throw new Error(`CONFD_BIN=${process.env.CONFD_BIN} is not an executable file`);
    return { bin: process.env.CONFD_BIN, how: 'CONFD_BIN' };
  }
  if (process.env.CONFD_SRC) return { bin: buildConfd(process.env.CONFD_SRC), how: `built from ${process.env.CONFD_SRC}` };
  for (const d of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) if (executable(join(d, 'confd'))) return { bin: join(d, 'confd'), how: 'PATH' };
  if (executable('/tmp/confd')) return { bin: '/tmp/confd', how: '/tmp/confd' };
  return undefined;
}

// --- etcd through its HTTP gateway: a writer that is neither of the two tools ----------------------
/** Our commands in one build: the workspace's entry points, or the one tarball installed into a temp prefix. */
function ourBuild(build) {
  if (build === 'workspace') return { name: 'workspace', dir: join(root, 'packages/cli') };
  const tarballs = join(work, 'tarballs');
  const [packed] = JSON.parse(execFileSync(process.execPath, [join(root, 'scripts/pack.mjs'), tarballs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  const prefix = join(work, 'prefix');
  execFileSync('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--loglevel=error', join(tarballs, packed.filename)], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { name: 'installed', dir: join(prefix, 'lib/node_modules/confd-haproxy') };
}
const binOf = (b, command) => join(b.dir, 'bin', `${command}.js`);

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
const b64 = (s) => Buffer.from(s).toString('base64');
function etcdCall(endpoint, path, body) {
  return new Promise((done, fail) => {
    const req = request(new URL(path, endpoint), { method: 'POST', agent, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode === 200 ? done(JSON.parse(text)) : fail(new Error(`etcd ${path}: ${res.statusCode} ${text}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`etcd ${path}: no answer within 10 s`)));
    req.on('error', fail);
    req.end(JSON.stringify(body));
  });
}
const etcdPut = (ep, key, value) => etcdCall(ep, '/v3/kv/put', { key: b64(key), value: b64(value) });
async function etcdPutMany(ep, pairs) {
  for (let i = 0; i < pairs.length; i += 100) {
    await etcdCall(ep, '/v3/kv/txn', { success: pairs.slice(i, i + 100).map(([k, v]) => ({ requestPut: { key: b64(k), value: b64(v) } })) });
  }
}
const etcdDeleteRange = (ep, from, to) => etcdCall(ep, '/v3/kv/deleterange', { key: b64(from), range_end: b64(to) });

// --- the data and the two templates ---------------------------------------------------------------
const PREFIX = '/haproxy/memcached';
const tag = (i) => `mem${String(i).padStart(5, '0')}`;
const entry = (i, host = `10.1.${i >> 8}.${i & 255}`) => JSON.stringify({ name: tag(i), host, port: 11211, proxyport: 20000 + i });
const HEADER = `# rendered by bench/confd.mjs
global
    maxconn     4000

defaults
    mode                    tcp
    retries                 3
    timeout connect         2s
    timeout client          30m
    timeout server          30m

`;
const GO_TEMPLATE = memcachedGoTemplate(HEADER);
const HBS_TEMPLATE = memcachedHbsTemplate(HEADER);

/** A confdir per tool: conf.d/memcached.toml, templates/, its dest and its reload counter. */
function confdir(tool, name, reload) {
  const dir = join(work, name);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  mkdirSync(join(dir, 'out'), { recursive: true });
  const src = tool === 'confd' ? 'memcached.conf.tmpl' : 'memcached.conf.hbs';
  writeFileSync(join(dir, 'templates', src), tool === 'confd' ? GO_TEMPLATE : HBS_TEMPLATE);
  const dest = join(dir, 'out/haproxy.cfg');
  const reloads = join(dir, 'reloads');
  writeFileSync(reloads, '');
  writeFileSync(join(dir, 'conf.d/memcached.toml'), `[template]\nsrc = "${src}"\ndest = "${dest}"\nkeys = ["${PREFIX}"]\n${reload ? `reload_cmd = "echo r >> ${reloads}"\n` : ''}`);
  return { tool, dir, dest, reloads };
}

// --- processes ------------------------------------------------------------------------------------
/**
 * Run a short-lived command to its end (SIGKILL after timeoutMs): wall time from spawn to exit and
 * peak RSS and CPU time (user + system) — from /usr/bin/time when installed, else VmHWM polled from
 * /proc every 2 ms (and no CPU time).
 */
function runTimed(argv, { timeoutMs = 60_000, cwd } = {}) {
  const rssFile = join(work, `rss-${process.hrtime.bigint()}`);
  const [file, args] = TIME ? [TIME, ['-f', '%M %U %S', '-o', rssFile, ...argv]] : [argv[0], argv.slice(1)];
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
    let stderr = '';
    let hwm = 0;
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const poll = TIME ? undefined : setInterval(() => {
      try {
        hwm = Math.max(hwm, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]));
      } catch {
        // exited between polls
      }
    }, 2);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      clearInterval(poll);
      fail(err);
    });
    child.once('exit', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      clearInterval(poll);
      let [kb, cpu] = [hwm, NaN];
      if (TIME) {
        try {
          const [maxKb, user, sys] = readFileSync(rssFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
          [kb, cpu] = [maxKb, (user + sys) * 1000];
          rmSync(rssFile);
        } catch {
          kb = NaN;
        }
      }
      if (code !== 0) return fail(new Error(`${argv.join(' ')}: ${signal ? `killed by ${signal}` : `exit ${code}`}\n${stderr}`));
      done({ ms, cpuMs: cpu, rssMb: mb(kb) });
    });
  });
}
const summary = (samples) => ({ ms: median(samples.map((s) => s.ms)), cpuMs: median(samples.map((s) => s.cpuMs)), rssMb: median(samples.map((s) => s.rssMb)), maxRssMb: Math.max(...samples.map((s) => s.rssMb)) });

/** CPU time of every thread of pid, in ms (nanosecond schedstat), else utime+stime ticks. */
function cpuMs(pid) {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  }
}
const status = (pid, field) => mb(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]));

function lines(file) {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
}
function readOr(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
function sameOutput(a, b, what) {
  const x = readOr(a.dest);
  const y = readOr(b.dest);
  if (x === undefined || x !== y) {
    let at = 0;
    while (x !== undefined && y !== undefined && at < x.length && x[at] === y[at]) at++;
    throw new Error(`${what}: confd and confd-haproxy wrote different files (${a.dest}: ${x?.length ?? 'missing'} bytes, ${b.dest}: ${y?.length ?? 'missing'} bytes, first difference at byte ${at}: ${JSON.stringify(x?.slice(at, at + 60))} vs ${JSON.stringify(y?.slice(at, at + 60))})`);
  }
  return x.length;
}

/**
 * Poll dests (stat every 2 ms, read when it changed) until each holds `marker`; ms from t0 per
 * dest, Infinity for one that did not within timeoutMs.
 */
async function whenRewritten(dests, marker, t0, timeoutMs) {
  const seen = dests.map(() => undefined);
  const last = dests.map(() => '');
  while (seen.some((s) => s === undefined) && performance.now() - t0 < timeoutMs) {
    dests.forEach((d, i) => {
      if (seen[i] !== undefined) return;
      try {
        const st = statSync(d);
        const sig = `${st.ino}:${st.mtimeMs}:${st.size}`;
        if (sig === last[i]) return;
        last[i] = sig;
        if (readFileSync(d, 'utf8').includes(marker)) seen[i] = performance.now() - t0;
      } catch {
        // between unlink and rename
      }
    });
    await sleep(2);
  }
  return seen.map((s) => s ?? Infinity);
}

const started = []; // PIDs of the watchers, stopped in finally
const handles = []; // etcd, memcached
function watcher(tool, c, endpoint) {
  const [bin, args] = tool === 'confd'
    ? [confd.bin, ['-watch', '-backend', 'etcdv3', '-node', endpoint, '-confdir', c.dir, '-log-level', 'error']]
    : [process.execPath, [binOf(ours, 'confd-haproxy'), '--watch', '--backend', 'etcd', '--node', endpoint, '--confdir', c.dir, '--state-dir', join(c.dir, 'state'), '--log-level', 'error', ...(WAIT ? ['--wait', WAIT] : [])]];
  const child = startProcess(bin, args, { pkg: tool === 'confd' ? 'confd' : 'nodejs', output: join(c.dir, 'watch.log') });
  started.push(child.pid);
  return child.pid;
}
const onetimeArgv = (tool, c, endpoint) => (tool === 'confd'
  ? [confd.bin, '-onetime', '-backend', 'etcdv3', '-node', endpoint, '-confdir', c.dir, '-log-level', 'error']
  : [process.execPath, binOf(ours, 'confd-haproxy'), '--onetime', '--backend', 'etcd', '--node', endpoint, '--confdir', c.dir, '--state-dir', join(c.dir, 'state'), '--log-level', 'error']);

// --- the run --------------------------------------------------------------------------------------
let confd;
let ours;
const results = { onetime: [], startup: {} };
try {
  const builds = Object.fromEntries(['workspace', 'installed'].map((b) => [b, ourBuild(b)]));
  ours = builds[BUILD];
  confd = findConfd();
  if (confd) {
    const v = spawnSync(confd.bin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
    confd.version = (v.stdout || v.stderr || '').trim();
    if (!/\b0\.17\./.test(confd.version)) console.error(`warning: ${confd.bin} says "${confd.version}", not confd 0.17`);
    console.log(`confd: ${confd.bin} (${confd.how}): ${confd.version}`);
  } else {
    console.log('confd: none found (CONFD_BIN, CONFD_SRC, confd on PATH, /tmp/confd): the rows against confd are skipped');
  }
  if (!TIME) console.log('/usr/bin/time is not installed (apt-get install time): peak RSS of short runs is VmHWM polled every 2 ms, which can miss the last milliseconds');
  console.log(`ours: the ${BUILD} build (${ours.dir})`);
  console.log(`node ${process.version}, ${STARTS} runs of every short-lived process, ${RUNS} single changes, idle ${SECONDS} s${WAIT ? `, our --wait ${WAIT}` : ''}\n`);

  // Start-up against `node -e 0`: nothing else of this bench is running yet.
  const mem = await startMemcached();
  handles.push(mem);
  const qs = join(work, 'quickstart');
  cpSync(join(root, 'examples/quickstart'), qs, { recursive: true });
  const qsToml = join(qs, 'conf.d/haproxy.toml');
  writeFileSync(qsToml, readFileSync(qsToml, 'utf8').replace(/^dest = .*$/m, `dest = "${join(qs, 'out/haproxy.cfg')}"`));
  mkdirSync(join(qs, 'out'));
  const starts = { node: () => [process.execPath, '-e', '0'] };
  for (const b of Object.values(builds)) {
    Object.assign(starts, {
      [`version.${b.name}`]: () => [process.execPath, binOf(b, 'confd-haproxy'), '--version'],
      [`quickstart.${b.name}`]: () => {
        rmSync(join(qs, 'out/haproxy.cfg'), { force: true });
        return [process.execPath, binOf(b, 'confd-haproxy'), '--onetime', '--backend', 'file', '--file', join(qs, 'kv.json'), '--confdir', qs, '--state-dir', join(qs, 'state'), '--log-level', 'info'];
      },
      [`checker.${b.name}`]: () => [process.execPath, binOf(b, 'checkmemcached'), '--server', `127.0.0.1:${mem.port}`, '--tag', `mem${mem.port}`, '--backend', 'file', '--file', join(work, 'checker-kv.json'), '--once', '--lock-dir', work, '--log-level', 'error'],
    });
  }
  const samples = Object.fromEntries(Object.keys(starts).map((k) => [k, []]));
  for (let i = 0; i < STARTS + 1; i++) {
    for (const [k, argv] of Object.entries(starts)) {
      const s = await runTimed(argv());
      if (i > 0) samples[k].push(s); // the first round warms the page cache
    }
  }
  for (const k of Object.keys(starts)) results.startup[k] = summary(samples[k]);
  if (!existsSync(join(qs, 'out/haproxy.cfg'))) throw new Error('the quick start wrote no haproxy.cfg');
  await mem.stop();

  if (confd) {
    const etcd = await startEtcd();
    handles.push(etcd);
    const ep = etcd.endpoint;
    const dirs = { confd: confdir('confd', 'confd-onetime', false), ours: confdir('ours', 'ours-onetime', false) };
    let loaded = 0;
    for (const n of SIZES) {
      if (n > loaded) await etcdPutMany(ep, Array.from({ length: n - loaded }, (_, j) => [`${PREFIX}/${tag(loaded + j)}`, entry(loaded + j)]));
      else if (n < loaded) await etcdDeleteRange(ep, `${PREFIX}/${tag(n)}`, `${PREFIX}0`);
      loaded = n;
      const s = { confd: [], ours: [] };
      for (let i = 0; i < STARTS + 1; i++) {
        for (const tool of TOOLS) {
          rmSync(dirs[tool].dest, { force: true });
          const r = await runTimed(onetimeArgv(tool, dirs[tool], ep), { timeoutMs: 120_000 });
          if (i > 0) s[tool].push(r);
        }
        if (i === 0) sameOutput(dirs.confd, dirs.ours, `-onetime, ${n} entries`); // before any time is taken
      }
      results.onetime.push({ n, bytes: sameOutput(dirs.confd, dirs.ours, `-onetime, ${n} entries`), confd: summary(s.confd), ours: summary(s.ours) });
    }

    // -watch on the first size, both at once on the same etcd.
    const n = SIZES[0];
    if (loaded > n) await etcdDeleteRange(ep, `${PREFIX}/${tag(n)}`, `${PREFIX}0`);
    const w = { confd: confdir('confd', 'confd-watch', true), ours: confdir('ours', 'ours-watch', true) };
    const pids = { confd: watcher('confd', w.confd, ep), ours: watcher('ours', w.ours, ep) };
    const first = await whenRewritten([w.confd.dest, w.ours.dest], `${tag(n - 1)}-memcached`, performance.now(), 60_000);
    const silent = TOOLS.filter((_, i) => first[i] === Infinity);
    if (silent.length) throw new Error(`-watch: ${silent.join(' and ')} did not render within 60 s${silent.map((t) => `\n${t}'s log: ${(readOr(join(w[t].dir, 'watch.log')) ?? '').slice(-2000)}`).join('')}`);
    sameOutput(w.confd, w.ours, `-watch, ${n} entries`);
    await sleep(SETTLE_MS);

    // Idle: CPU of all threads and RSS over SECONDS, and the busiest second.
    const cpu0 = { confd: cpuMs(pids.confd), ours: cpuMs(pids.ours) };
    const prev = { ...cpu0 };
    const peak = { confd: 0, ours: 0 };
    const busiest = { confd: 0, ours: 0 };
    const w0 = performance.now();
    for (let i = 0; i < SECONDS; i++) {
      await sleep(1000);
      for (const tool of TOOLS) {
        peak[tool] = Math.max(peak[tool], status(pids[tool], 'VmRSS'));
        const now = cpuMs(pids[tool]);
        busiest[tool] = Math.max(busiest[tool], now - prev[tool]);
        prev[tool] = now;
      }
    }
    const secs = (performance.now() - w0) / 1000;
    results.idle = Object.fromEntries(TOOLS.map((tool) => [tool, { cpuMs: prev[tool] - cpu0[tool], cpu: ((prev[tool] - cpu0[tool]) / 10) / secs, busiestMs: busiest[tool], rssMb: peak[tool], hwmMb: status(pids[tool], 'VmHWM') }]));

    // One change at a time: put, then until each dest holds it.
    const change = { confd: [], ours: [] };
    for (let r = 0; r < RUNS; r++) {
      const i = (r * 37) % n;
      const host = `10.2.${r >> 8}.${r & 255}`;
      const t0 = performance.now();
      await etcdPut(ep, `${PREFIX}/${tag(i)}`, entry(i, host));
      const [a, b] = await whenRewritten([w.confd.dest, w.ours.dest], ` ${host}:11211 `, t0, 15_000);
      change.confd.push(a);
      change.ours.push(b);
      await sleep(500 + Math.random() * 200);
    }
    results.change = Object.fromEntries(TOOLS.map((tool) => [tool, { p50: median(change[tool]), max: Math.max(...change[tool]), missed: change[tool].filter((t) => t === Infinity).length }]));

    // A burst: BURST changes (BURST tags) within about a second, then quiet; reload_cmd runs counted.
    await sleep(2500);
    const before = { confd: lines(w.confd.reloads), ours: lines(w.ours.reloads) };
    const tb = performance.now();
    for (let k = 0; k < BURST; k++) {
      await etcdPut(ep, `${PREFIX}/${tag(k % n)}`, entry(k % n, `10.3.${k >> 8}.${k & 255}`));
      await sleep(Math.max(0, tb + (k + 1) * 9 - performance.now()));
    }
    const spread = performance.now() - tb;
    const last = BURST - 1;
    const done = await whenRewritten([w.confd.dest, w.ours.dest], ` 10.3.${last >> 8}.${last & 255}:11211 `, tb, 30_000);
    await sleep(QUIET_MS);
    results.burst = { spread, confd: lines(w.confd.reloads) - before.confd, ours: lines(w.ours.reloads) - before.ours, done };
    sameOutput(w.confd, w.ours, '-watch after the changes');
  }
} finally {
  for (const pid of started) await stopProcess(pid, 3000).catch((err) => console.error(`stopping pid ${pid}: ${err.message}`));
  for (const h of handles) await h.stop().catch((err) => console.error(`stopping ${h.name}: ${err.message}`));
  agent.destroy();
  rmSync(work, { recursive: true, force: true });
}

// --- the tables and the goals -----------------------------------------------------------------------
const goals = [];
const goal = (what, met, figure) => goals.push({ what, met, figure });
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
if (confd) {
  const rows = [];
  for (const o of results.onetime) {
    rows.push([`\`-onetime\` render of ${o.n.toLocaleString('en')} entries from etcd (${(o.bytes / 1024).toFixed(0)} KB), p50 wall / peak RSS`, `${fmtMs(o.confd.ms)} / ${fmtMb(o.confd.rssMb)}`, `${fmtMs(o.ours.ms)} / ${fmtMb(o.ours.rssMb)}`, `${ratio(o.ours.ms, o.confd.ms)} / ${ratio(o.ours.rssMb, o.confd.rssMb)}`]);
  }
  const { idle, change, burst } = results;
  const n = SIZES[0].toLocaleString('en');
  rows.push([`\`-watch\`, ${n} entries, idle ${SECONDS} s: CPU % of a core / RSS (peak since start)`, `${idle.confd.cpu.toFixed(3)} % / ${fmtMb(idle.confd.rssMb)} (${fmtMb(idle.confd.hwmMb)})`, `${idle.ours.cpu.toFixed(3)} % / ${fmtMb(idle.ours.rssMb)} (${fmtMb(idle.ours.hwmMb)})`, `${ratio(idle.ours.cpu, idle.confd.cpu)} / ${ratio(idle.ours.rssMb, idle.confd.rssMb)}`]);
  const ch = (c) => `${fmtMs(c.p50)} / ${fmtMs(c.max)}${c.missed ? ` (${c.missed} never)` : ''}`;
  rows.push([`one change → dest rewritten, p50 / max (${RUNS} runs${WAIT ? `; our --wait ${WAIT}` : '; our --wait at its default'})`, ch(change.confd), ch(change.ours), `${ratio(change.ours.p50, change.confd.p50)} / ${ratio(change.ours.max, change.confd.max)}`]);
  const late = (i) => (burst.done[i] === Infinity ? ' (the last change never arrived)' : '');
  rows.push([`a burst of ${BURST} changes in ${burst.spread.toFixed(0)} ms → reloads (reload_cmd runs)`, `${burst.confd}${late(0)}`, `${burst.ours}${late(1)}`, burst.confd ? ratio(burst.ours, burst.confd) : '–']);
  table(['', confd.version.split(' (')[0], 'confd-haproxy', 'ratio'], rows);
  console.log(`idle: ${TOOLS.map((t) => `${t === 'ours' ? 'confd-haproxy' : 'confd'} used ${idle[t].cpuMs.toFixed(0)} ms of CPU in ${SECONDS} s, ${idle[t].busiestMs.toFixed(0)} ms of it in the busiest second`).join('; ')}`);
  console.log('');
  const [o1, o2] = [results.onetime.find((o) => o.n === 1000), results.onetime.find((o) => o.n === 10000)];
  if (o1) goal('`-onetime` 1,000 entries ≤ 2× confd', o1.ours.ms <= 2 * o1.confd.ms, ratio(o1.ours.ms, o1.confd.ms));
  if (o2) goal('`-onetime` 10,000 entries ≤ 1.5× confd', o2.ours.ms <= 1.5 * o2.confd.ms, ratio(o2.ours.ms, o2.confd.ms));
  goal('idle ≤ 0.05 % of a core', idle.ours.cpu <= 0.05, `${idle.ours.cpu.toFixed(3)} %`);
  goal('idle RSS ≤ 50 MB', idle.ours.rssMb <= 50, fmtMb(idle.ours.rssMb));
  goal('one change p50 ≤ confd\'s p50', change.ours.p50 <= change.confd.p50, `${fmtMs(change.ours.p50)} against ${fmtMs(change.confd.p50)}`);
  goal(`a burst of ${BURST} changes ≤ 2 reloads`, burst.ours <= 2 && burst.done[1] !== Infinity, `${burst.ours} (confd ${burst.confd})`);
}
const startRow = (what, k) => {
  const [node, ws, inst] = [results.startup.node, results.startup[`${k}.workspace`], results.startup[`${k}.installed`]];
  const cpu = (s) => (Number.isNaN(s.cpuMs) ? '–' : fmtMs(s.cpuMs));
  const fmt = (s) => `${fmtMs(s.ms)} / ${cpu(s)} / ${fmtMb(s.rssMb)}`;
  return [what, fmt(node), fmt(ws), fmt(inst), `+${fmtMs(inst.ms - node.ms)} / +${Number.isNaN(inst.cpuMs) ? '–' : fmtMs(inst.cpuMs - node.cpuMs)} / +${fmtMb(inst.rssMb - node.rssMb)}`, `${ratio(inst.ms, ws.ms)} / ${ratio(inst.cpuMs, ws.cpuMs)} / ${ratio(inst.rssMb, ws.rssMb)}`];
};
table(['', 'node -e 0', 'workspace', 'installed tarball', 'installed − node', 'installed ÷ workspace'], [
  startRow('`confd-haproxy --version`, p50 wall / CPU / peak RSS', 'version'),
  startRow('the quick start\'s `-onetime` (file store), p50 wall / CPU / peak RSS', 'quickstart'),
  startRow('`checkmemcached --once` (a real memcached, file store), p50 wall / CPU / peak RSS', 'checker'),
]);
console.log('');
const st = Object.fromEntries(['version', 'quickstart', 'checker'].map((k) => [k, results.startup[`${k}.${BUILD}`]]));
st.node = results.startup.node;
goal('`--version` ≤ node -e 0 + 40 ms', st.version.ms <= st.node.ms + 40, `+${fmtMs(st.version.ms - st.node.ms)}`);
goal('quick-start `-onetime` ≤ 150 ms', st.quickstart.ms <= 150, fmtMs(st.quickstart.ms));
goal('quick-start `-onetime` ≤ 55 MB', st.quickstart.rssMb <= 55, fmtMb(st.quickstart.rssMb));
goal('checker `--once` ≤ 200 ms', st.checker.ms <= 200, fmtMs(st.checker.ms));
for (const g of goals) console.log(`goal: ${g.what}: ${g.met ? 'met' : 'missed'} (${g.figure})`);
const met = goals.filter((g) => g.met).length;
const parts = [
  ...results.onetime.map((o) => `-onetime ${o.n}: ${ratio(o.ours.ms, o.confd.ms)} confd`),
  ...(results.idle ? [`idle ${results.idle.ours.cpu.toFixed(3)} % / ${fmtMb(results.idle.ours.rssMb)}`, `one change p50 ${fmtMs(results.change.ours.p50)} (confd ${fmtMs(results.change.confd.p50)})`, `burst ${results.burst.ours} reload(s) (confd ${results.burst.confd})`] : []),
  `--version +${fmtMs(st.version.ms - st.node.ms)} over node -e 0`,
];
console.log(`confd: ${met} of ${goals.length} goals met (the ${BUILD} build)${confd ? '' : ' (no confd: the goals against it were not judged)'}; ${parts.join(', ')}`);
