#!/usr/bin/env node
// `npm test`: install the real services the tests start (Debian, as root), build, type-check the
// tests, run every test file with node-tap, and end with one line: "N passed, N failed".
// `--tier unit|integration|e2e` runs one tier (x.test.ts, x.integration.test.ts, x.e2e.test.ts);
// the unit tier installs and starts nothing. Files given after the options run instead.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const TIERS = ['unit', 'integration', 'e2e'];
const { opts, files } = readArgs(process.argv.slice(2));

/** --tier and the files to run instead of a tier; a bad argument ends the run with its message. */
function readArgs(args) {
  try {
    const { values, positionals } = parseArgs({ args, options: { tier: { type: 'string' } }, allowPositionals: true });
    if (values.tier !== undefined && !TIERS.includes(values.tier)) throw new Error(`--tier: "${values.tier}" is not ${TIERS.join(', ')}`);
    return { opts: values, files: positionals };
  } catch (err) {
    console.error(err.message);
    return finish(0, 1, 1);
  }
}

// Tests write only into temporary directories: after the run, nothing here may be newer than
// the run's start (the services are installed before it starts).
const UNTOUCHED = ['/etc', '/var/lib/confd-haproxy', '/run/confd-haproxy', '/usr/local/bin', '/usr/local/lib/node_modules'];

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  return r.status === 0;
}

function finish(passed, failed, code) {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code);
}

/** Installs the Debian packages of what the tests run (each testkit launcher declares its own) that are missing. */
async function installServices() {
  const { REQUIRES } = await import(pathToFileURL(join(root, 'packages/testkit/dist/requires.js')).href);
  const missing = REQUIRES.filter(({ path }) => !existsSync(path));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(({ pkg }) => pkg))];
  const isRoot = process.getuid?.() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    console.log(`# installing ${pkgs.join(' ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!sh('apt-get', ['update', '-qq'], { env }) || !sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env })) {
      console.error(`apt-get could not install ${pkgs.join(' ')}`);
      finish(0, 1, 1);
    }
  } else {
    console.error(`# missing ${missing.map(({ name }) => name).join(', ')}: install the Debian packages ${pkgs.join(' ')} (as root npm test does this itself); tests that need them will fail`);
  }
}

/** The files of one tier, by name; the tier rules live in the testkit so its launchers can enforce them. */
async function filesOf(tier) {
  const { testFiles, tierOf } = await import(pathToFileURL(join(root, 'packages/testkit/dist/tier.js')).href);
  return testFiles(root).filter((f) => tierOf(f) === tier);
}

// Built first: the list of what to install is read from the testkit's build of this checkout.
console.log('# building');
if (!sh('npm', ['run', '--silent', 'build'])) finish(0, 1, 1);
if (opts.tier !== 'unit') await installServices();
console.log('# type-checking tests and benchmarks');
if (!sh('npx', ['tsc', '-p', 'tsconfig.test.json'])) finish(0, 1, 1);

/** Files under dirs modified after since (ms), depth-first, bounded. */
function touchedSince(dirs, since, limit = 20) {
  const found = [];
  const walk = (path, depth) => {
    if (found.length >= limit || depth > 12) return;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    if (st.mtimeMs > since || st.ctimeMs > since) found.push(path);
    if (!st.isDirectory()) return;
    let names = [];
    try {
      names = readdirSync(path);
    } catch {
      return;
    }
    for (const n of names) walk(join(path, n), depth + 1);
  };
  for (const d of dirs) walk(d, 0);
  return found;
}

mkdirSync('.tap', { recursive: true });
const startedAt = Date.now();
const report = createWriteStream('.tap/report.tap');
const run = files.length > 0 || opts.tier === undefined ? files : await filesOf(opts.tier);
if (opts.tier) console.log(`# the ${opts.tier} tier: ${run.length} files`);
if (opts.tier && run.length === 0) finish(0, 1, 1); // node-tap would fall back to every file
// Unit files mostly wait on timers and loopback I/O, so two per core keep the cores busy; the
// tiers that start services keep .taprc's jobs.
const jobs = opts.tier === 'unit' ? [`--jobs=${2 * availableParallelism()}`] : [];
const tap = spawn('npx', ['tap', '--reporter=tap', ...jobs, ...run], { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  report.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
tap.on('close', (code, signal) => {
  report.end();
  // node-tap closes its stream with "# { total: N, pass: N, fail: N, ... }" for the whole run.
  const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(tail.split('\n').filter((l) => l.startsWith('# {')).pop() ?? '');
  const total = Number(m?.[1] ?? 0);
  const passed = Number(m?.[2] ?? 0);
  const failed = Number(m?.[3] ?? 0) || (code === 0 ? 0 : Math.max(1, total - passed));
  const touched = touchedSince(UNTOUCHED, startedAt);
  if (touched.length) console.log(`not ok - tests wrote outside temporary directories:\n${touched.map((p) => `#   ${p}`).join('\n')}`);
  const ok = code === 0 && signal === null && total > 0 && failed === 0 && touched.length === 0;
  finish(passed, failed + (touched.length ? 1 : 0), ok ? 0 : 1);
});
