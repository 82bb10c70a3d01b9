import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { alive, freePort, removeDir, startMemcached, runBounded, stopAll, waitForPort, startProcess, LauncherError } from '@confd-haproxy/testkit';
import { eventually } from './helpers.js';

t.test('freePort hands out distinct loopback ports that can be bound', async (t) => {
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  t.equal(new Set(ports).size, ports.length, 'no port twice');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(ports[0], '127.0.0.1', r));
  await new Promise<void>((r) => srv.close(() => r()));
  t.pass('the first one binds');
});

t.test('waitForPort fails fast with the log tail when the process dies', async (t) => {
  const dir = t.testdir({});
  const log = join(dir, 'out.log');
  // memcached rejects the flag and exits; the wait must not run to its 30 s bound.
  const child = startProcess('/usr/bin/memcached', ['--no-such-flag'], { pkg: 'memcached', output: log });
  const err = await waitForPort(child.pid!, '127.0.0.1', await freePort(), { what: 'memcached', log }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof LauncherError);
  t.match(err, { code: 'EXITED', message: /no-such-flag/ });
});

t.test('runBounded kills the whole process group when it times out', async (t) => {
  const err = (await runBounded('/bin/sh', ['-c', 'sleep 30 & echo $!; wait'], { pkg: 'dash', timeoutMs: 500 }).then(
    () => undefined,
    (e: unknown) => e,
  )) as (LauncherError & { stdout?: string }) | undefined;
  t.match(err, { code: 'SETUP', message: /timed out after 500 ms/ });
  const sleeper = Number(err?.stdout?.trim());
  t.ok(sleeper > 0, 'the script printed its child');
  t.ok(await eventually(() => !alive(sleeper)), `the grandchild sleep ${sleeper} is gone too`);
});

t.test('a missing binary names the Debian package to install', async (t) => {
  t.throws(() => startProcess('/usr/sbin/no-such-daemon', [], { pkg: 'no-such-package' }), { code: 'MISSING_BINARY', message: /install the Debian package no-such-package/ });
});

t.test('stopAll stops every service not stopped yet and removes their dirs', async (t) => {
  const all = await Promise.all([startMemcached(), startMemcached()]);
  await stopAll();
  for (const m of all) {
    t.notOk(alive(m.pid), `pid ${m.pid} is gone`);
    t.notOk(existsSync(m.dir), `${m.dir} is removed`);
  }
});

/** Run a node script that starts memcached and prints its pid and dir, then does `how`. */
async function leaver(t: Test, how: 'exit' | 'hang') {
  const dir = t.testdir({});
  const script = join(dir, 'leaver.mjs');
  writeFileSync(
    script,
    `import { startMemcached } from '@confd-haproxy/testkit';\n` +
      `const m = await startMemcached();\n` +
      `process.stdout.write(JSON.stringify({ pid: m.pid, dir: m.dir }) + '\\n');\n` +
      `if (process.argv[2] === 'exit') process.exit(0);\n` +
      `setTimeout(() => {}, 60_000);\n`,
  );
  const child = spawn(process.execPath, [script, how], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((done, fail) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error('no pid line within 15 s')), 15_000);
    child.stdout!.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(timer);
        done(buf.split('\n')[0]!);
      }
    });
  });
  const started = JSON.parse(line) as { pid: number; dir: string };
  t.teardown(() => removeDir(started.dir));
  return { child, ...started };
}

t.test('a test process that exits without stop() leaves no memcached and no temp dir', async (t) => {
  const { child, pid, dir } = await leaver(t, 'exit');
  await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
  t.ok(await eventually(() => !alive(pid)), `pid ${pid} is gone`);
  t.notOk(existsSync(dir), `${dir} is removed`);
});

t.test('a test process killed with SIGKILL takes its memcached with it', async (t) => {
  const { child, pid } = await leaver(t, 'hang');
  t.ok(alive(pid), 'memcached runs while its parent does');
  child.kill('SIGKILL');
  t.ok(await eventually(() => !alive(pid)), `pid ${pid} is gone (parent-death signal)`);
});
