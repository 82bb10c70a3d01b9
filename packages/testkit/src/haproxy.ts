// HAProxy in master-worker mode for tests: a master CLI socket, our child, stopped by PID.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { masterCommand } from '@confd-haproxy/runner';
import { handle, startProcess, tempDir, type ServiceHandle } from './proc.js';

export interface HAProxyHandle extends ServiceHandle {
  readonly config: string;
  readonly masterSocket: string;
  masterCommand(cmd: string): Promise<string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start `haproxy -W -S <dir>/master.sock -f <config>` in the foreground (-db keeps it our child).
 * `config` is a path (the renderer's dest) or the text of a config to write into the temp dir.
 */
export async function startHAProxy(opts: { config: string; configText?: string }): Promise<HAProxyHandle> {
  const dir = tempDir('haproxy');
  const config = opts.configText !== undefined ? join(dir, 'haproxy.cfg') : opts.config;
  if (opts.configText !== undefined) writeFileSync(config, opts.configText);
  const masterSocket = join(dir, 'master.sock');
  const child = startProcess('/usr/sbin/haproxy', ['-W', '-db', '-S', masterSocket, '-f', config], { pkg: 'haproxy' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const out = await masterCommand(masterSocket, 'show proc', 1000).catch(() => '');
    if (/\bworker\b/.test(out.split('# workers')[1] ?? '')) break;
    if (child.exitCode !== null) throw new Error(`haproxy exited during start (code ${child.exitCode}); check ${config}`);
    if (Date.now() > deadline) throw new Error('haproxy did not start a worker within 10 s');
    await sleep(50);
  }
  return { ...handle('haproxy', child, '127.0.0.1', 0, dir), config, masterSocket, masterCommand: (cmd) => masterCommand(masterSocket, cmd) };
}
