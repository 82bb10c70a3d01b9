// What the fleet's security tests share: one HAProxy host's instance over a file store in a temp
// dir, with its own --confdir (rendering `# confdir`), push keys, and a way to read what it rendered.
// Starts no service: unit tests use it.
import type { Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type KVStore } from '@confd-haproxy/kv';
import { bundleChecksum, FleetAgent, generatePushKey, readSignKey, readTrustKey, signBundle, type Bundle, type BundleEvent, type BundleFiles, type FleetOptions, type TrustedKey } from '@confd-haproxy/fleet';
import { tempDir } from '@confd-haproxy/testkit';
import type { KeyObject } from 'node:crypto';

export const PUSHER = { id: '00000000-0000-4000-8000-00000000beef', host: 'ci' };

/** A bundle (or a confdir) with one resource rendering app.cfg, whose first line is `# <marker>`. */
export const filesOf = (marker: string, resource = ''): BundleFiles => ({
  'conf.d/app.toml': `[template]\nsrc = "app.cfg.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/app"]\n${resource}`,
  'templates/app.cfg.hbs': `# ${marker}\n`,
});

/** An instance's logger that keeps every line, by level. */
export function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => lines.push({ level, msg });
  return { lines, logger: { debug() {}, info: at('info'), warn: at('warn'), error: at('error') } };
}

export interface Host {
  dir: string;
  store: KVStore;
  confdir: string;
  stateDir: string;
  /** The push key pair: `signKey` for push, `trusted` for --trust-key. */
  signKey: KeyObject;
  trusted: TrustedKey[];
  /** Another pair, trusted by nobody. */
  otherKey: KeyObject;
  otherTrusted: TrustedKey[];
  /** The first line of the app.cfg rendered into confdir (undefined before any render). */
  rendered(): string | undefined;
  /** A new instance on this host (a start or a restart), stopped when the test ends. */
  instance(opts?: Partial<FleetOptions>, clock?: { now(): number }): Instance;
}

export interface Instance {
  agent: FleetAgent;
  events: BundleEvent[];
  lines: { level: string; msg: string }[];
  signal: AbortSignal;
  stop(): Promise<void>;
}

/** A host with a file store, its own --confdir and a push key pair; everything is removed when the test ends. */
export function fleetHost(t: Test): Host {
  const dir = tempDir('security-fleet');
  const confdir = join(dir, 'etc');
  const stateDir = join(dir, 'state');
  for (const [path, content] of Object.entries(filesOf('confdir'))) {
    mkdirSync(join(confdir, path, '..'), { recursive: true });
    writeFileSync(join(confdir, path), content);
  }
  const store = openStore({ backend: 'file', file: join(dir, 'kv.json') });
  const keys = generatePushKey(join(dir, 'keys'));
  const other = generatePushKey(join(dir, 'other'));
  const stops: (() => Promise<void>)[] = [];
  t.teardown(async () => {
    for (const stop of stops) await stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const instance = (opts: Partial<FleetOptions> = {}, clock: { now(): number } = Date): Instance => {
    const { lines, logger } = recordingLogger();
    const events: BundleEvent[] = [];
    const ac = new AbortController();
    const agent = new FleetAgent({ store, stateDir, confdir, logger, signal: ac.signal, diffsBeforeSync: 1, checkIntervalMs: 0, onBundle: (e) => events.push(e), ...opts }, clock);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      ac.abort();
      await agent.stop();
    };
    stops.push(stop);
    return { agent, events, lines, signal: ac.signal, stop };
  };
  return {
    dir,
    store,
    confdir,
    stateDir,
    signKey: readSignKey(keys.keyFile),
    trusted: [readTrustKey(keys.pubFile)],
    otherKey: readSignKey(other.keyFile),
    otherTrusted: [readTrustKey(other.pubFile)],
    rendered: () => (existsSync(join(confdir, 'app.cfg')) ? readFileSync(join(confdir, 'app.cfg'), 'utf8').split('\n')[0] : undefined),
    instance,
  };
}

/** A bundle as a pusher makes it: version, files, optionally an environment, signed with key when given. */
export function makeBundle(version: number, files: BundleFiles, key?: KeyObject, extra: Partial<Bundle> = {}): Bundle {
  const b: Bundle = { version, checksum: bundleChecksum(files), pushedBy: PUSHER.id, host: PUSHER.host, pushedAt: new Date(Date.UTC(2024, 0, version)).toISOString(), files, ...extra };
  return key ? signBundle(b, key) : b;
}

/** Poll cond every 20 ms until it holds or ms pass; whether it held. */
export async function within(ms: number, cond: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}
