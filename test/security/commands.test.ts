// What a command of the renderer may reach without any service running: the environment it gets
// (never the store's credentials), and a bundle's commands without a shell even when the instance
// sets no --allow-command. The real `haproxy -c` side is commands.integration.test.ts.
import t from 'tap';
import type { Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleChecksum, runFleet, BUNDLE_KEY, type BundleEvent } from '@confd-haproxy/fleet';
import { createFileStore } from '@confd-haproxy/kv';
import { runOnce } from '@confd-haproxy/renderer';
import { quiet } from '@confd-haproxy/testkit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOKEN = '0c5d9a7e-1b2f-4c3d-8e9f-a1b2c3d4e5f6';

function tempRoot(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-test-sec-commands-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** conf.d/app.toml with the given extra lines, a template, and an empty file store. */
function confdir(dir: string, extra: string): string {
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'conf.d/app.toml'), `[template]\nsrc = "app.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/memcached"]\n${extra}`);
  writeFileSync(join(dir, 'templates/app.hbs'), '# app\n');
  writeFileSync(join(dir, 'kv.json'), '{}');
  return dir;
}

t.test("check_cmd and reload_cmd never see the store's credentials; PATH, HAPROXY_* and the names asked for they do", async (t) => {
  const dir = confdir(tempRoot(t), '');
  const seen = { check: join(dir, 'check.env'), reload: join(dir, 'reload.env') };
  writeFileSync(join(dir, 'conf.d/app.toml'), `${readFileSync(join(dir, 'conf.d/app.toml'), 'utf8')}check_cmd = "env > ${seen.check}"\nreload_cmd = "env > ${seen.reload}"\n`);
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const env = {
    PATH: process.env.PATH,
    HAPROXY_STATS_SOCKET: '/run/haproxy/admin.sock',
    CONSUL_HTTP_TOKEN: TOKEN,
    CONSUL_HTTP_TOKEN_FILE: '/etc/confd-haproxy/token',
    CONSUL_CLIENT_KEY: '/etc/confd-haproxy/client.key',
    ETCDCTL_PASSWORD: 'etcd-secret',
    REDISCLI_AUTH: 'redis-secret',
    SITE_NAME: 'eu-1',
  };
  const pass = await runOnce({ store, confdir: dir, logger: quiet, signal: new AbortController().signal, env, commandEnv: ['SITE_NAME'] });
  t.equal(pass.ok, true, pass.errors.map((e) => e.message).join('; '));
  for (const [what, file] of Object.entries(seen)) {
    const names = readFileSync(file, 'utf8').split('\n').map((l) => l.split('=')[0]);
    t.same(['CONSUL_HTTP_TOKEN', 'CONSUL_HTTP_TOKEN_FILE', 'CONSUL_CLIENT_KEY', 'ETCDCTL_PASSWORD', 'REDISCLI_AUTH'].filter((n) => names.includes(n)), [], `${what}: no credential`);
    t.notOk(readFileSync(file, 'utf8').includes(TOKEN), `${what}: not the token's value either`);
    t.ok(['PATH', 'HAPROXY_STATS_SOCKET', 'SITE_NAME'].every((n) => names.includes(n)), `${what}: PATH, HAPROXY_* and --command-env names`);
  }
});

t.test("a bundle's command with a shell operator is refused before anything runs, with no --allow-command set", async (t) => {
  const root = tempRoot(t);
  const marker = join(root, 'MARK');
  const dir = confdir(join(root, 'inst'), '');
  const store = createFileStore({ file: join(dir, 'kv.json'), pollMs: 100 });
  t.teardown(() => store.close());
  const files = {
    'conf.d/app.toml': `[template]\nsrc = "app.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/memcached"]\nreload_cmd = "true && touch ${marker}"\n`,
    'templates/app.hbs': '# bundle\n',
  };
  const events: BundleEvent[] = [];
  const ac = new AbortController();
  const running = runFleet({ store, confdir: dir, stateDir: join(root, 'state'), logger: quiet, signal: ac.signal, env: { PATH: process.env.PATH }, diffsBeforeSync: 1, checkIntervalMs: 50, onBundle: (e) => events.push(e) });
  t.teardown(async () => {
    ac.abort();
    await running;
  });
  await store.put(BUNDLE_KEY, JSON.stringify({ version: 3, checksum: bundleChecksum(files), pushedBy: 'intruder', host: 'elsewhere', pushedAt: new Date().toISOString(), files }));
  for (let i = 0; i < 200 && !events.some((e) => e.version === 3); i++) await sleep(50);
  t.match(events.find((e) => e.version === 3), {
    adopted: false,
    refusal: 'not allowed',
    reason: /^not allowed \(conf\.d\/app\.toml: reload_cmd "true && touch .*MARK" is not plain words \(shell operator "&&"\): it runs without a shell\)$/,
  });
  t.notOk(existsSync(marker), 'the command did not run');
  t.notOk(existsSync(join(dir, 'app.cfg')) && readFileSync(join(dir, 'app.cfg'), 'utf8').includes('bundle'), 'nor was the bundle rendered');
});
