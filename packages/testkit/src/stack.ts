// The system under test as e2e tests and benches run it: a confdir with the shipped templates,
// HAProxy in master-worker mode on a bootstrap config, and a resource that checks with real
// `haproxy -c` and reloads through `haproxy-reload` (optionally the runtime API first).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHAProxy, type HAProxyHandle } from './haproxy.js';
import { removeDir, tempDir } from './proc.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export interface RenderedHAProxy {
  /** The confdir: conf.d/haproxy.toml and templates/ (the repository's). */
  dir: string;
  dest: string;
  statsSocket: string;
  haproxy: HAProxyHandle;
  /** Environment for the renderer (PATH and the template's HAPROXY_STATS_SOCKET). */
  env: Record<string, string | undefined>;
  stop(): Promise<void>;
}

export async function startRenderedHAProxy(opts: {
  keys: string[];
  /** Add runtime_socket, so server changes go through the runtime API. */
  runtimeApi?: boolean;
  /** A shell command run before the reload (e.g. to count reloads). */
  beforeReload?: string;
}): Promise<RenderedHAProxy> {
  const dir = tempDir('stack');
  const statsSocket = join(dir, 'admin.sock');
  mkdirSync(join(dir, 'conf.d'));
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  const dest = join(dir, 'haproxy.cfg');
  // HAProxy starts on a config with no listen yet; the renderer fills it in and reloads.
  writeFileSync(dest, `global\n    stats socket ${statsSocket} mode 600 level admin\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n`);
  const haproxy = await startHAProxy({ config: dest });
  const reload = `${opts.beforeReload ? `${opts.beforeReload}; ` : ''}${process.execPath} ${join(root, 'packages/cli/bin/haproxy-reload.js')} --master-socket ${haproxy.masterSocket}`;
  writeFileSync(
    join(dir, 'conf.d/haproxy.toml'),
    [
      '[template]',
      'src = "haproxy.cfg.hbs"',
      `dest = "${dest}"`,
      `keys = ${JSON.stringify(opts.keys)}`,
      'check_cmd = "/usr/sbin/haproxy -c -f {{.src}}"',
      `reload_cmd = "${reload}"`,
      ...(opts.runtimeApi ? [`runtime_socket = "${statsSocket}"`] : []),
      '',
    ].join('\n'),
  );
  return {
    dir,
    dest,
    statsSocket,
    haproxy,
    env: { PATH: process.env.PATH, HAPROXY_STATS_SOCKET: statsSocket },
    stop: async () => {
      await haproxy.stop();
      removeDir(dir);
    },
  };
}

/** A confdir in a temp dir for the shipped templates: an empty conf.d/, out/ for dest, the repository's templates/ linked in. */
export function shippedConfdir(what: string): { dir: string; dest: string; remove(): void } {
  const dir = tempDir(what);
  mkdirSync(join(dir, 'conf.d'));
  mkdirSync(join(dir, 'out'));
  symlinkSync(join(root, 'templates'), join(dir, 'templates'));
  return { dir, dest: join(dir, 'out/haproxy.cfg'), remove: () => removeDir(dir) };
}
