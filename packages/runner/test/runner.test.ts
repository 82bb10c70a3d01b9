import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createQuiescence, dedupeCommands, runCommand } from '@confd-haproxy/runner';

// A zombie (killed, not yet reaped by an init that does not reap) counts as gone.
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a command runs through the shell and its outcome is data', async (t) => {
  const ok = await runCommand('echo out; echo err >&2; exit 0');
  t.match(ok, { ok: true, exitCode: 0, timedOut: false, stdout: 'out\n', stderr: 'err\n' });
  const bad = await runCommand('exit 3');
  t.match(bad, { ok: false, exitCode: 3, timedOut: false });
});

t.test('a command sees only the environment it is given', async (t) => {
  const r = await runCommand('echo "[$SECRET][$ONLY]"', { env: { ONLY: 'yes', PATH: '/usr/bin:/bin' } });
  t.equal(r.stdout.trim(), '[][yes]');
});

t.test('a timeout kills the whole process group, grandchildren too', async (t) => {
  const dir = t.testdir({});
  const pids = join(dir, 'pids');
  const r = await runCommand(`sh -c 'sleep 60 & echo $! >> ${pids}; sleep 60' & echo $! >> ${pids}; sleep 60`, { timeoutMs: 300, killGraceMs: 200 });
  t.equal(r.timedOut, true);
  t.equal(r.ok, false);
  t.ok(r.durationMs < 5000, `returned after ${r.durationMs} ms`);
  await sleep(300);
  const started = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
  t.equal(started.length, 2);
  for (const pid of started) t.notOk(alive(pid), `pid ${pid} is gone`);
});

t.test('an abort kills the command at once', async (t) => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const r = await runCommand('sleep 30', { signal: ac.signal, timeoutMs: 60_000 });
  t.match(r, { ok: false, aborted: true, timedOut: false });
  t.ok(r.durationMs < 5000);
});

t.test('identical commands of several resources run once, in order', async (t) => {
  t.same(dedupeCommands(['systemctl reload haproxy', undefined, 'x', 'systemctl reload haproxy', '  ']), ['systemctl reload haproxy', 'x']);
});

t.test('a burst of 100 pokes within a second fires once', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 200, maxMs: 5000 }, () => {
    fired++;
  });
  for (let i = 0; i < 100; i++) {
    q.poke();
    await sleep(8);
  }
  await q.idle();
  t.equal(fired, 1);
  q.stop();
});

t.test('max bounds the wait of a stream that is never quiet', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 300, maxMs: 600 }, () => {
    fired++;
  });
  const until = Date.now() + 1500;
  while (Date.now() < until) {
    q.poke();
    await sleep(50);
  }
  q.stop();
  t.ok(fired >= 2, `fired ${fired} times during 1.5 s of constant pokes`);
});

t.test('pokes while a run is going queue exactly one more run', async (t) => {
  let fired = 0;
  const q = createQuiescence({ minMs: 10, maxMs: 100 }, async () => {
    fired++;
    await sleep(200);
  });
  q.poke();
  await sleep(50);
  for (let i = 0; i < 10; i++) q.poke();
  await sleep(20);
  await q.idle();
  await sleep(50);
  await q.idle();
  t.equal(fired, 2);
  q.stop();
});
