// What the fleet tests share: a quiet logger, the operator's confdir, waiting for a fleet state.
// Starts nothing (stores.ts starts the stores), so unit tests may use it too.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KVReader } from '@confd-haproxy/kv';
import { readFleet, type FleetView } from '@confd-haproxy/fleet';

export { quiet } from '@confd-haproxy/testkit';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The check every instance runs unless a test gives another. */
export const CHECK = '/usr/sbin/haproxy -c -q -f {{.src}}';
/** A reload that appends a line to $RELOAD_LOG, so a test counts reloads. */
export const RELOAD = `/bin/sh -c 'echo reload >> "$RELOAD_LOG"'`;

/** The operator's conf.d and template: one resource rendering app.cfg, whose first line is `# <marker>`, with the given commands. */
export function writeConfdir(dir: string, marker: string, cmds: { check: string; reload: string } = { check: CHECK, reload: RELOAD }): void {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  const toml = (s: string) => JSON.stringify(s);
  writeFileSync(join(dir, 'conf.d/app.toml'), `[template]\nsrc = "app.cfg.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/memcached"]\ncheck_cmd = ${toml(cmds.check)}\nreload_cmd = ${toml(cmds.reload)}\n`);
  writeFileSync(
    join(dir, 'templates/app.cfg.hbs'),
    `# ${marker}\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n{{#each (gets "/haproxy/memcached/*")}}{{#with (entry Value)}}\nlisten {{name}}\n    bind 127.0.0.1:{{proxyport}}\n    server {{name}}-0 {{host}}:{{port}}\n{{/with}}{{/each}}\n`,
  );
}

/** The first line of the app.cfg rendered into confdir ('' before any render). */
export const renderedIn = (confdir: string): string => (existsSync(join(confdir, 'app.cfg')) ? readFileSync(join(confdir, 'app.cfg'), 'utf8').split('\n')[0]! : '');

/** readFleet until cond holds (bounded); the last view. */
export const fleetWhenIn =
  (store: KVReader) =>
  async (cond: (v: FleetView) => boolean, ms = 20_000): Promise<FleetView> => {
    const deadline = Date.now() + ms;
    let v = await readFleet(store);
    while (!cond(v) && Date.now() < deadline) {
      await sleep(100);
      v = await readFleet(store);
    }
    return v;
  };
