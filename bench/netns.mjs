// bench helpers for a network partition: two memcached and one checker process (bench/scale-child.mjs,
// the bins' defaults: interval 1 s, timeout 500 ms, retry-down 1) inside a network namespace made
// here, the entry in a file store outside it; the active server's packets are then DROPped with
// iptables inside the namespace (this kernel has no tc netem). Needs root, ip and iptables.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '@confd-haproxy/kv';
import { sleep, until } from './lib.mjs';

const PORTS = [11211, 11212];
const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });

/** One run: DROP the active server's packets at a random phase → ms until the entry names the other. */
export async function partitionOnce(heartbeatMs, intervalMs = 1000) {
  const ns = `confd-bench-${process.pid}-${Date.now() % 100000}`;
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-'));
  const file = join(dir, 'kv.json');
  const store = createFileStore({ file });
  const activePort = async () => JSON.parse((await store.get('haproxy/memcached/mem0'))?.value ?? '{}').port;
  const children = [];
  const run = (bin, args, env = process.env) => {
    const c = spawn('ip', ['netns', 'exec', ns, bin, ...args], { stdio: 'ignore', env });
    children.push(c);
    return c;
  };
  ip('netns', 'add', ns);
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    for (const port of PORTS) run('/usr/bin/memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', '-c', '64', '-u', 'root']);
    await sleep(300);
    run(process.execPath, [fileURLToPath(new URL('./scale-child.mjs', import.meta.url)), file, PORTS.join(',')], { ...process.env, BENCH_HEARTBEAT_MS: String(heartbeatMs) });
    if (!(await until(async () => (await activePort()) !== undefined, 20_000, 20))) throw new Error('no entry within 20 s');
    const before = await activePort();
    await sleep(Math.random() * intervalMs);
    const t0 = Date.now();
    for (const chain of [['INPUT', '--sport'], ['INPUT', '--dport']]) ip('netns', 'exec', ns, 'iptables', '-I', chain[0], '-p', 'tcp', chain[1], String(before), '-j', 'DROP');
    const moved = await until(async () => (await activePort()) !== before, 15_000, 5);
    return moved ? Date.now() - t0 : NaN;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    ip('netns', 'del', ns);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
