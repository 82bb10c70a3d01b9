// The fleet agent's decisions, driven one read of the bundle key at a time (step) over the file
// store, with a clock the test moves: when a bundle is adopted, refused, and tried again.
import t from 'tap';
import type { Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { KVError, openStore } from '@confd-haproxy/kv';
import { bundleChecksum, bundleDir, FleetAgent, storeFailure, generatePushKey, publishBundle, readSignKey, readTrustKey, BUNDLE_KEY, type Bundle, type BundleEvent, type BundleFiles, type FleetOptions } from '@confd-haproxy/fleet';
import { tempDir } from '@confd-haproxy/testkit';
import { quiet } from './helpers.js';

const who = { id: '00000000-0000-4000-8000-000000000001', host: 'pusher' };
const MINUTE = 60_000;

/** A bundle with one resource whose dest starts with `# <marker>`. */
const filesOf = (marker: string, resource = ''): BundleFiles => ({
  'conf.d/app.toml': `[template]\nsrc = "app.cfg.hbs"\ndest = "app.cfg"\nkeys = ["/haproxy/app"]\n${resource}`,
  'templates/app.cfg.hbs': `# ${marker}\n`,
});

/** A bundle of version v as a pusher that counted from elsewhere (a store reset) writes it. */
const bundleOf = (version: number, files: BundleFiles): Bundle => ({ version, checksum: bundleChecksum(files), pushedBy: who.id, host: who.host, pushedAt: new Date().toISOString(), files });

/** An agent over a fresh file store in its own temp dir (opts may use the dir), its clock at `clock.ms`, stopped and removed when the test ends. */
function agentFor(t: Test, opts: (dir: string) => Partial<FleetOptions> = () => ({})) {
  const dir = tempDir('fleet-agent');
  const confdir = join(dir, 'etc');
  const stateDir = join(dir, 'state');
  mkdirSync(confdir);
  const store = openStore({ backend: 'file', file: join(dir, 'kv.json') });
  const events: BundleEvent[] = [];
  const ac = new AbortController();
  const clock = { ms: Date.parse('2024-01-01T00:00:00Z'), now: () => clock.ms };
  const agent = new FleetAgent(
    { store, stateDir, confdir, logger: quiet, signal: ac.signal, diffsBeforeSync: 3, checkIntervalMs: 0, retryRefusedMs: MINUTE, onBundle: (e) => events.push(e), ...opts(dir) },
    clock,
  );
  t.teardown(async () => {
    ac.abort();
    await agent.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const push = async (files: BundleFiles, signKey?: Parameters<typeof publishBundle>[4]) => (await publishBundle(store, files, who, undefined, signKey)).bundle;
  const rendered = () => (existsSync(join(confdir, 'app.cfg')) ? readFileSync(join(confdir, 'app.cfg'), 'utf8').split('\n')[0] : undefined);
  return { agent, store, events, clock, push, rendered, dir, stateDir };
}

/** A push key pair under dir; the agent trusts its public half. */
const trusting = (dir: string) => {
  const key = generatePushKey(join(dir, 'keys'));
  return { trustKeys: [readTrustKey(key.pubFile)] };
};

t.test('a new bundle is adopted only after it was read diffsBeforeSync times in a row', async (t) => {
  const { agent, events, push, rendered } = agentFor(t, () => ({ diffsBeforeSync: 3 }));
  const v1 = await push(filesOf('v1'));
  await agent.step();
  await agent.step();
  t.same(events, [], 'two reads are not enough');
  t.equal(rendered(), undefined, 'nothing is rendered yet');
  await agent.step();
  t.same(events, [{ version: 1, adopted: true, rendered: true }], 'the third read adopts it');
  t.equal(rendered(), '# v1', 'its pass rendered the dest');
  t.match(agent.status, { version: 1, checksum: v1.checksum }, 'its status shows version 1');
  t.equal(agent.applied?.version, 1, 'it runs version 1');
  t.notOk(agent.wants(v1), 'the bundle it runs is not wanted again');
});

t.test('a bundle that changes between reads starts the count again', async (t) => {
  const { agent, events, push, rendered } = agentFor(t, () => ({ diffsBeforeSync: 3 }));
  await push(filesOf('v1'));
  await agent.step();
  await agent.step();
  await push(filesOf('v2'));
  await agent.step();
  await agent.step();
  t.same(events, [], 'two reads of version 1 and two of version 2: neither is adopted');
  await agent.step();
  t.same(events, [{ version: 2, adopted: true, rendered: true }], 'the third read of version 2 adopts it; version 1 never was');
  t.equal(rendered(), '# v2', 'version 2 rendered the dest');
});

t.test('an untrusted bundle is refused without being written out or rendered; a signed one is adopted', async (t) => {
  const { agent, events, push, rendered, stateDir, dir } = agentFor(t, (dir) => ({ diffsBeforeSync: 1, ...trusting(dir) }));
  const unsigned = await push(filesOf('unsigned'));
  await agent.step();
  t.match(events, [{ version: 1, adopted: false, refusal: 'untrusted', rendered: false, reason: /^untrusted \(the bundle is not signed\)$/ }], 'refused as unsigned');
  t.equal(rendered(), undefined, 'no dest was rendered');
  t.notOk(existsSync(bundleDir(stateDir, unsigned)), 'its files were not even written out');
  t.match(agent.status, { version: 0, refused: { version: 1, reason: /^untrusted/ } }, 'the status says it runs its own --confdir and why version 1 was refused');
  await push(filesOf('signed'), readSignKey(join(dir, 'keys/push.key')));
  await agent.step();
  t.match(events.at(-1), { version: 2, adopted: true }, 'the signed version 2 is adopted');
  t.equal(rendered(), '# signed', 'the signed bundle rendered the dest');
  t.notOk(agent.status.refused, 'an adoption clears the refusal');
});

t.test('a bundle with a command outside --allow-command is refused before any of its commands runs', async (t) => {
  const { agent, events, push, rendered, dir } = agentFor(t, (dir) => ({ diffsBeforeSync: 1, policy: { allowCommands: ['/bin/true'], allowDests: [`${dir}/`] } }));
  const ran = join(dir, 'ran');
  await push(filesOf('evil', `reload_cmd = "touch ${ran}"\n`));
  await agent.step();
  t.match(events, [{ version: 1, adopted: false, refusal: 'not allowed', rendered: false, reason: /^not allowed \(conf\.d\/app\.toml: reload_cmd "touch .*" matches no --allow-command\)$/ }], 'refused by the local policy, naming the command');
  t.equal(rendered(), undefined, 'nothing was rendered');
  t.notOk(existsSync(ran), 'the reload_cmd did not run');
  t.match(agent.status, { version: 0, refused: { version: 1, reason: /^not allowed/ } }, 'the status says why');
});

t.test('a refused bundle is not tried again before its retry time, and is after it', async (t) => {
  const { agent, events, store, clock, push } = agentFor(t, (dir) => ({ diffsBeforeSync: 1, ...trusting(dir) }));
  const b = await push(filesOf('unsigned'));
  await agent.step();
  t.equal(events.length, 1, 'refused once');
  t.equal(agent.retryAt, clock.ms + MINUTE, 'to be tried again in retryRefusedMs');
  clock.ms += MINUTE - 1;
  t.notOk(agent.wants(b), 'not wanted a millisecond before its retry time');
  await store.put('haproxy/.config/note', 'a change that wakes the watch');
  await agent.step();
  t.equal(events.length, 1, 'a store change before the retry time does not bring it back');
  clock.ms += 1;
  t.ok(agent.wants(b), 'wanted at its retry time');
  await agent.step();
  t.equal(events.length, 2, 'the next read, without a store change, tries it again');
  t.match(events[1], { version: 1, adopted: false, refusal: 'untrusted' }, 'and refuses it again');
});

t.test('the wait before a retry doubles with each refusal of the same bundle, up to 30 minutes; another bundle starts again', async (t) => {
  const { agent, clock, push } = agentFor(t);
  const b1 = await push(filesOf('v1'));
  const waits: number[] = [];
  for (let i = 0; i < 7; i++) {
    agent.refuse(b1, 'the check failed');
    waits.push((agent.retryAt - clock.ms) / MINUTE);
  }
  t.same(waits, [1, 2, 4, 8, 16, 30, 30], 'minutes before each retry');
  const b2 = await push(filesOf('v2'));
  agent.refuse(b2, 'the check failed');
  t.equal(agent.retryAt - clock.ms, MINUTE, 'a different bundle waits retryRefusedMs again');
});

t.test('without --trust-key a lower version is still followed, with a warning (a store reset); with it, it is refused as stale', async (t) => {
  const warnings: string[] = [];
  const { agent, events, store, rendered } = agentFor(t, () => ({ diffsBeforeSync: 1, logger: { ...quiet, warn: (m: string) => warnings.push(m) } }));
  await store.put(BUNDLE_KEY, JSON.stringify(bundleOf(5, filesOf('v5'))));
  await agent.step();
  await store.put(BUNDLE_KEY, JSON.stringify(bundleOf(2, filesOf('v2'))));
  await agent.step();
  t.match(events, [{ version: 5, adopted: true }, { version: 2, adopted: true }], 'version 2 follows version 5');
  t.equal(rendered(), '# v2');
  t.match(warnings.at(-1), /^bundle version 2 is below the running 5: the store was reset or rewritten; adopting it \(no --trust-key\)$/);
});

t.test('a pass that failed only on the store is not held against the bundle', async (t) => {
  const reset = new KVError('KV_UNREACHABLE', 'list "haproxy/app": cannot connect or lost the connection (ECONNRESET)');
  const busy = new KVError('KV_SERVER', 'list "haproxy/app": server error 503');
  t.equal(storeFailure([reset]), reset, 'a lost connection');
  t.equal(storeFailure([busy, reset]), busy, 'server errors too: the first one is told');
  t.equal(storeFailure([reset, new Error('conf.d/app.toml: check_cmd exited with 1')]), undefined, 'the bundle failed too: refused for that');
  t.equal(storeFailure([new KVError('KV_FORBIDDEN', 'permission denied')]), undefined, 'a key the token may not read is the bundle asking for it');
  t.equal(storeFailure([]), undefined);
});

/** How many worker threads this process started so far: thread ids are handed out in order, one per worker. */
async function workersStarted(): Promise<number> {
  const probe = new Worker('', { eval: true });
  const id = probe.threadId;
  await probe.terminate();
  return id;
}

t.test('an adoption starts one render worker: its pass and the watch after it share it', async (t) => {
  let passes = 0;
  const { agent, push, rendered } = agentFor(t, () => ({ diffsBeforeSync: 1, onPass: () => passes++ }));
  await push(filesOf('v1'));
  const before = await workersStarted();
  await agent.step();
  t.equal(rendered(), '# v1', 'adopted and rendered');
  const adoption = passes;
  const until = Date.now() + 20_000;
  while (passes === adoption && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.ok(passes > adoption, 'the watch rendered after the adoption');
  t.equal((await workersStarted()) - before - 1, 1, 'one render worker for the pass and the watch');
});
