#!/usr/bin/env node
// `npm test`: install the real services the tests start (Debian, as root), build, type-check and
// compile the tests, run every test file (node-tap's, with tap-files.mjs), and end with one line:
// "N passed, N failed".
// `--tier unit|integration|e2e` runs one tier (x.test.ts, x.integration.test.ts, x.e2e.test.ts);
// the unit tier installs and starts nothing. Files given after the options run instead.
// Each file runs as the x.test.js that tsc writes beside its x.test.ts (tsconfig.test.json): no
// TypeScript loader in each test process, which cost ~0.5 s of CPU per file.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { runTapFiles } from './tap-files.mjs';

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

/** The tier rules, from the testkit's build (its launchers enforce them too). */
const tiers = () => import(pathToFileURL(join(root, 'packages/testkit/dist/tier.js')).href);

/** The files of one tier (every tier with none given), by name. */
async function filesOf(tier) {
  const { testFiles, tierOf } = await tiers();
  return testFiles(root).filter((f) => (tier === undefined ? tierOf(f) !== undefined : tierOf(f) === tier));
}

// Built first: the list of what to install is read from the testkit's build of this checkout.
console.log('# building');
if (!sh('npm', ['run', '--silent', 'build'])) finish(0, 1, 1);
if (opts.tier !== 'unit') await installServices();
console.log('# type-checking and compiling tests and benchmarks');
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
const { buildOf } = await tiers();
const run = (files.length > 0 ? files : await filesOf(opts.tier)).map(buildOf);
// An incremental tsc does not write again a build that was deleted: then it starts from scratch.
if (run.some((f) => !existsSync(f))) {
  rmSync(JSON.parse(readFileSync('tsconfig.test.json', 'utf8')).compilerOptions.tsBuildInfoFile, { force: true });
  if (!sh('npx', ['tsc', '-p', 'tsconfig.test.json'])) finish(0, 1, 1);
}
console.log(`# ${opts.tier ? `the ${opts.tier} tier` : files.length > 0 ? 'the files given' : 'every tier'}: ${run.length} files`);
if (run.length === 0) finish(0, 1, 1); // a tier with no file is a mistake, not a pass
// .taprc holds a file's time and how many run at once, for node-tap's runner and this one. Unit
// files mostly wait on timers and loopback I/O, so two per core keep the cores busy.
const taprc = parseYaml(readFileSync('.taprc', 'utf8'));
const jobs = opts.tier === 'unit' ? 2 * availableParallelism() : taprc.jobs;
const write = (chunk) => {
  process.stdout.write(chunk);
  report.write(chunk);
};
const count = await runTapFiles(run, { jobs, timeoutS: taprc.timeout, write });
report.end();
const touched = touchedSince(UNTOUCHED, startedAt);
if (touched.length) console.log(`not ok - tests wrote outside temporary directories:\n${touched.map((p) => `#   ${p}`).join('\n')}`);
const ok = count.total > 0 && count.fail === 0 && touched.length === 0;
finish(count.pass, count.fail + (touched.length ? 1 : 0), ok ? 0 : 1);
