// The runner npm test runs the suite with (scripts/tap-files.mjs): every failure counts, whether an
// assertion fails, a file crashes before its count, or a file hangs past its time.
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tapUrl = pathToFileURL(join(root, 'node_modules/tap/dist/esm/index.js')).href;

interface Count {
  total: number;
  pass: number;
  fail: number;
  skip: number;
}
type RunTapFiles = (files: string[], opts: { jobs: number; timeoutS: number; graceS?: number; write: (s: string) => void }) => Promise<Count>;
const { runTapFiles } = (await import(pathToFileURL(join(root, 'scripts/tap-files.mjs')).href)) as { runTapFiles: RunTapFiles };

/** Test files written into a temporary directory, run with the runner; its count and its stream. */
async function run(t: Test, files: Record<string, string>, opts: { timeoutS?: number; graceS?: number } = {}) {
  const dir = t.testdir(files);
  let out = '';
  const count = await runTapFiles(
    Object.keys(files).map((f) => join(dir, f)),
    { jobs: 2, timeoutS: opts.timeoutS ?? 60, ...(opts.graceS !== undefined ? { graceS: opts.graceS } : {}), write: (s) => (out += s) },
  );
  return { count, out };
}

const file = (body: string) => `import t from ${JSON.stringify(tapUrl)};\n${body}\n`;

t.test("each file's assertions are counted and its TAP is a subtest of the run's", async (t) => {
  const { count, out } = await run(t, {
    'a.test.mjs': file("t.pass('one'); t.pass('two');"),
    'b.test.mjs': file("t.pass('three'); t.test('skipped', { skip: 'not here' }, async () => {});"),
  });
  t.match(count, { total: 4, pass: 3, fail: 0, skip: 1 });
  t.match(out, /^TAP version 14\n/);
  t.equal(out.match(/TAP version/g)?.length, 1, "the files' own version lines are not repeated");
  t.match(out, /# Subtest: .*a\.test\.mjs\n    ok 1 - one\n/);
  t.match(out, /\nok \d - .*b\.test\.mjs # time=/);
  t.match(out, /\n1\.\.2\n# \{ total: 4, pass: 3, skip: 1 \}\n# time=/, "node-tap's count line, which npm test reads");
});

t.test('a failed assertion fails its file and the run', async (t) => {
  const { count, out } = await run(t, { 'a.test.mjs': file("t.pass('fine'); t.equal(1, 2, 'not equal');") });
  t.match(count, { total: 2, pass: 1, fail: 1 });
  t.match(out, /\nnot ok 1 - .*a\.test\.mjs # time=.*\n  ---\n  exitCode: 1\n/);
});

t.test('a file that exits badly, killed or failing at import is one failure, whatever it passed', async (t) => {
  const { count, out } = await run(t, {
    'exits.test.mjs': file("t.pass('before'); process.exit(3);"),
    'killed.test.mjs': file("t.pass('before'); process.kill(process.pid, 'SIGKILL');"),
    'throws.test.mjs': 'throw new Error("at import")\n',
  });
  t.match(count, { pass: 1, fail: 3 }, 'the killed file wrote no count: its assertions are not counted');
  t.match(out, /not ok \d - .*exits\.test\.mjs # time=.*\n  ---\n  exitCode: 3\n/);
  t.match(out, /not ok \d - .*killed\.test\.mjs # time=.*\n  ---\n  exitCode: null\n  signal: SIGKILL\n/);
  t.match(out, /not ok \d - .*throws\.test\.mjs/);
});

t.test("a file past its time fails: node-tap's own timeout, or the runner's stop when the file cannot reach it", async (t) => {
  const { count, out } = await run(
    t,
    {
      'waits.test.mjs': file("t.test('waits', () => new Promise(() => setInterval(() => {}, 1000)));"),
      'spins.test.mjs': file("t.pass('started'); for (;;) {}"),
    },
    { timeoutS: 1, graceS: 1 },
  );
  t.ok(count.fail >= 2, `both fail (${count.fail})`);
  t.match(out, /not ok \d - .*spins\.test\.mjs # time=.*\n  ---\n  exitCode: null\n  signal: SIG(TERM|KILL)\n  timedOut: 2 s\n/);
  t.match(out, /not ok \d - .*waits\.test\.mjs/);
});

t.test('npm test runs the suite with this runner and reads its count', async (t) => {
  const script = readFileSync(join(root, 'scripts/test.mjs'), 'utf8');
  t.match(script, /import \{ runTapFiles \} from '\.\/tap-files\.mjs'/);
  t.ok(existsSync(join(root, 'scripts/tap-files.mjs')));
});
