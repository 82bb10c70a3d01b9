import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandEnv, dedupeCommands, describeFailure, MAX_OUTPUT_BYTES, runCommand, type RunnerLogger } from '@confd-haproxy/runner';

// process.kill(pid, 0) fails for a gone process; a killed one whose parent died stays a zombie
// until PID 1 reaps it, and this VM's PID 1 never does — so a zombie counts as gone too.
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll (bounded) until the process is gone; whether it went. */
async function gone(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await sleep(20);
  return !alive(pid);
}

/** The PIDs a command wrote to `file`, once `count` of them are there (at most 5 s). */
async function pidsIn(file: string, count: number): Promise<number[]> {
  for (let i = 0; i < 200; i++) {
    const pids = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number) : [];
    if (pids.length >= count) return pids;
    await sleep(25);
  }
  throw new Error(`${file}: fewer than ${count} PIDs after 5 s`);
}

/** Kill leftovers by PID in teardown, so a failing test does not leak sleeps. */
const reap = (pids: number[]) => () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already, as it should be.
    }
  }
};

t.test('a command runs through the shell and its outcome is data', async (t) => {
  const ok = await runCommand('echo out; echo err >&2; exit 0');
  t.match(ok, { command: 'echo out; echo err >&2; exit 0', ok: true, exitCode: 0, signal: undefined, timedOut: false, aborted: false, stdout: 'out\n', stderr: 'err\n' });
  t.type(ok.durationMs, 'number');
  const bad = await runCommand('echo half; exit 3');
  t.match(bad, { ok: false, exitCode: 3, timedOut: false, stdout: 'half\n' });
});

t.test('a command that cannot be found or is killed is a failed result, not an exception', async (t) => {
  t.match(await runCommand('no-such-command-anywhere'), { ok: false, exitCode: 127, stderr: /not found/ });
  t.match(await runCommand('kill -TERM $$'), { ok: false, signal: 'SIGTERM', timedOut: false });
  t.match(await runCommand('true', { cwd: '/nonexistent-dir' }), { ok: false });
});

t.test('a command sees only the environment it is given, in the directory it is given', async (t) => {
  const dir = t.testdir({});
  const r = await runCommand('echo "[$SECRET][$ONLY]"; pwd', { env: { ONLY: 'yes', PATH: '/usr/bin:/bin' }, cwd: dir });
  t.equal(r.stdout, `[][yes]\n${dir}\n`);
});

t.test('argv words run without a shell: quotes, $ and ; reach the program as they are', async (t) => {
  const dir = t.testdir({});
  const odd = `a b 'q' "dq" $(touch ${join(dir, 'ran')}); x`;
  const r = await runCommand('shown only', { argv: ['/usr/bin/printf', '[%s]', odd, '$HOME'], env: { HOME: '/nowhere' } });
  t.match(r, { command: 'shown only', ok: true, stdout: `[${odd}][$HOME]` });
  t.notOk(existsSync(join(dir, 'ran')), 'nothing in the words ran');
});

t.test('a program that cannot be started is a failed result saying why', async (t) => {
  const r = await runCommand('/no/such/program', { argv: ['/no/such/program', 'x'] });
  t.match(r, { ok: false, exitCode: undefined, notStarted: /ENOENT/ });
  t.match(describeFailure(r), /^could not be started \(.*ENOENT.*\)$/);
});

t.test('argv commands lead their own process group too: a timeout kills the program\'s children', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'pids');
  const running = runCommand('a script', { argv: ['/bin/sh', '-c', `sleep 60 & echo $! > ${file}; wait`], timeoutMs: 500, killGraceMs: 200 });
  const [pid] = await pidsIn(file, 1);
  t.teardown(reap([pid!]));
  t.match(await running, { ok: false, timedOut: true });
  t.ok(await gone(pid!), 'the child is gone');
});

t.test('commands see PATH, HOME, LANG, LC_*, TZ, TMPDIR, HAPROXY_* and the names asked for, never a store credential', async (t) => {
  const kept = {
    PATH: '/usr/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    LC_ALL: 'C',
    TZ: 'UTC',
    TMPDIR: '/tmp',
    HAPROXY_STATS_SOCKET: '/run/haproxy/admin.sock',
    EXTRA: 'yes',
  };
  const env = { ...kept, CONSUL_HTTP_TOKEN: 'secret', CONSUL_HTTP_TOKEN_FILE: '/etc/token', CONSUL_CLIENT_KEY: '/etc/key.pem', ETCDCTL_PASSWORD: 'secret', REDISCLI_AUTH: 'secret', UNSET: undefined };
  t.same(commandEnv(env, ['EXTRA']), kept);
  t.notOk('EXTRA' in commandEnv(env), 'a name not asked for stays out');
});

t.test('a chatty command keeps only the tail of its output', async (t) => {
  const r = await runCommand(`head -c ${4 * MAX_OUTPUT_BYTES} /dev/zero | tr '\\0' a; echo END; head -c ${2 * MAX_OUTPUT_BYTES} /dev/zero | tr '\\0' b >&2`);
  t.equal(r.ok, true);
  t.equal(r.stdout.length, MAX_OUTPUT_BYTES);
  t.ok(r.stdout.endsWith('aaaEND\n'), 'the last lines are kept');
  t.equal(r.stderr.length, MAX_OUTPUT_BYTES);
});

t.test('a timeout kills the whole process group, grandchildren too', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'pids');
  const running = runCommand(`sh -c 'sleep 60 & echo $! >> ${file}; sleep 60' & echo $! >> ${file}; sleep 60`, { timeoutMs: 500, killGraceMs: 200 });
  const pids = await pidsIn(file, 2);
  t.teardown(reap(pids));
  for (const pid of pids) t.ok(alive(pid), `pid ${pid} runs before the timeout`);
  const r = await running;
  t.match(r, { ok: false, timedOut: true, aborted: false });
  t.ok(r.durationMs < 5000, `returned after ${r.durationMs} ms`);
  for (const pid of pids) t.ok(await gone(pid), `pid ${pid} is gone`);
});

t.test('a grandchild that ignores SIGTERM is killed with SIGKILL after the grace', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'pids');
  const running = runCommand(`trap '' TERM; sleep 60 & echo $! > ${file}; wait`, { timeoutMs: 300, killGraceMs: 300 });
  const [pid] = await pidsIn(file, 1);
  t.teardown(reap([pid!]));
  const r = await running;
  t.equal(r.timedOut, true);
  t.ok(r.durationMs >= 500 && r.durationMs < 5000, `returned after ${r.durationMs} ms, once SIGKILL came`);
  t.ok(await gone(pid!), 'the grandchild is gone');
});

t.test('an abort kills the command at once', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'pids');
  const ac = new AbortController();
  const running = runCommand(`sleep 60 & echo $! > ${file}; wait`, { signal: ac.signal, timeoutMs: 60_000 });
  const [pid] = await pidsIn(file, 1);
  t.teardown(reap([pid!]));
  ac.abort();
  const r = await running;
  t.match(r, { ok: false, aborted: true, timedOut: false });
  t.ok(r.durationMs < 5000);
  t.ok(await gone(pid!), 'the background child is gone');
});

t.test('an already aborted signal runs nothing to completion', async (t) => {
  const dir = t.testdir({});
  const r = await runCommand(`sleep 1; touch ${join(dir, 'ran')}`, { signal: AbortSignal.abort() });
  t.match(r, { ok: false, aborted: true });
  t.notOk(existsSync(join(dir, 'ran')));
});

t.test('a failure is logged with its output, a success only at debug', async (t) => {
  const lines: string[] = [];
  const logger: RunnerLogger = { debug: (m) => lines.push(`debug ${m}`), info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
  await runCommand('echo fine', { logger });
  t.notOk(lines.some((l) => !l.startsWith('debug')), 'nothing above debug for a success');
  lines.length = 0;
  await runCommand('echo "[ALERT] bad line 3" >&2; exit 2', { logger });
  t.match(lines.filter((l) => l.startsWith('warn')), [/exited with 2: \[ALERT\] bad line 3/]);
  lines.length = 0;
  await runCommand('sleep 5', { logger, timeoutMs: 100 });
  t.match(lines.filter((l) => l.startsWith('error')), [/"sleep 5" timed out/]);
});

t.test('identical commands of several resources run once, in order', async (t) => {
  t.same(dedupeCommands(['systemctl reload haproxy', undefined, 'x', 'systemctl reload haproxy', '  ']), ['systemctl reload haproxy', 'x']);
});
