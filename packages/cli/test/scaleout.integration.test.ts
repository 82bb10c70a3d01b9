// Many checker hosts share the work: checkmysqlslave processes (the built bin, as users run it,
// each with its own --lock-dir as on its own host) with --all-tags over one db.conf of 300 sections
// against one real MariaDB, over the Consul double and a real etcd. Measured from the store: who
// holds each tag's lock, and that no entry ever disappears.
import t from 'tap';
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assignTags, loadCap } from '@confd-haproxy/checker';
import { createConsulStore, createEtcdStore, CONSUL_SESSION_TTL_MIN_MS, type KVStore } from '@confd-haproxy/kv';
import { killAndWait, MONITOR, startConsulDouble, startEtcd, startMariaDB } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(root, 'packages/cli/bin/checkmysqlslave.js');
const TAGS = Array.from({ length: 300 }, (_, i) => `s${String(i).padStart(3, '0')}`);
const LOCKS = 'haproxy/.locks/mysqlslave/';
const ENTRIES = 'haproxy/mysqlslave/';
const MEMBERS = 'haproxy/.checkers/mysqlslave/';

// One MariaDB for every tag: each section's only replica is the server itself, which is no replica,
// so each entry points at the master (db.conf's host) and stays put. The thread pool keeps 300+
// client connections cheap.
const db = await startMariaDB({ extra: ['max_connections=2000', 'thread_handling=pool-of-threads'] });
t.teardown(() => db.stop());

function dbConf(dir: string): string {
  const file = join(dir, 'db.conf');
  const section = (tag: string, i: number) => `[${tag}]\nhost=127.0.0.1\nport=${db.port}\nuser=${MONITOR.user}\npassword=${MONITOR.password}\nreplicas=127.0.0.1:${db.port}\nproxyport=${20000 + i}\n`;
  writeFileSync(file, TAGS.map(section).join('\n'), { mode: 0o600 });
  return file;
}

interface Checker {
  child: ChildProcess;
  /** "host:pid", as it writes in locks and its member key. */
  id: string;
  log: string;
}

/** Who holds each tag's lock now (tags whose lock nobody holds are absent), and which entries exist. */
async function look(store: KVStore): Promise<{ holders: Map<string, string>; entries: Set<string>; members: string[] }> {
  const [locks, entries, members] = await Promise.all([store.list(LOCKS), store.list(ENTRIES), store.list(MEMBERS)]);
  const holders = new Map<string, string>();
  for (const p of locks.pairs) if (p.session) holders.set(p.key.slice(LOCKS.length), p.value);
  return { holders, entries: new Set(entries.pairs.map((p) => p.key.slice(ENTRIES.length))), members: members.pairs.map((p) => p.key.slice(MEMBERS.length)) };
}

const count = (holders: Map<string, string>, id: string) => [...holders.values()].filter((h) => h === id).length;

/**
 * Poll the store every 100 ms until `done` says so or `ms` pass; every look also checks that all
 * 300 entries are there once they first were (an entry that disappears is a gap HAProxy would see).
 */
async function watchStore(t: Test, store: KVStore, ms: number, done: (v: Awaited<ReturnType<typeof look>>) => boolean): Promise<{ ms: number; last: Awaited<ReturnType<typeof look>> }> {
  const started = Date.now();
  for (let n = 0; ; n++) {
    const v = await look(store);
    if (gapCheck.armed && v.entries.size !== TAGS.length) gapCheck.missing.push(...TAGS.filter((tag) => !v.entries.has(tag)));
    if (done(v)) return { ms: Date.now() - started, last: v };
    if (Date.now() - started > ms || n > ms / 50) {
      t.comment(`gave up after ${Date.now() - started} ms`);
      return { ms: -1, last: v };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
const gapCheck = { armed: false, missing: [] as string[] };

/** The checkers' shares as the assignment computes them over these member ids. */
const shares = (ids: string[]) => {
  const a = assignTags(TAGS, ids);
  return new Map(ids.map((id) => [id, [...a].filter(([, o]) => o === id).map(([tag]) => tag)]));
};
const holdsExactly = (holders: Map<string, string>, id: string, tags: string[]) => tags.every((tag) => holders.get(tag) === id) && count(holders, id) === tags.length;

async function scenario(t: Test, store: KVStore, storeFlags: string[], ttlMs: number): Promise<void> {
  const dir = t.testdir({});
  const conf = dbConf(dir);
  const checkers: Checker[] = [];
  const start = (n: number): Checker => {
    const log = join(dir, `checker${n}.log`);
    const out = openSync(log, 'w');
    const child = spawn(process.execPath, [BIN, '--conf', conf, '--all-tags', ...storeFlags, '--lock-ttl', `${ttlMs}ms`, '--interval', '1s', '--heartbeat', '0', '--lock-dir', join(dir, `host${n}`), '--log-format', 'json'], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', out, out],
    });
    const c = { child, id: `${hostname()}:${child.pid}`, log };
    checkers.push(c);
    t.teardown(() => killAndWait(child));
    return c;
  };
  const tail = () => checkers.map((c) => `${c.log}:\n${readFileSync(c.log, 'utf8').split('\n').slice(-8).join('\n')}`).join('\n');

  const three = [0, 1, 2].map(start);
  const ids = three.map((c) => c.id);
  const settled = await watchStore(t, store, 60_000, (v) => v.entries.size === 300 && v.holders.size === 300 && ids.every((id) => v.members.includes(id)) && ids.every((id) => holdsExactly(v.holders, id, shares(ids).get(id)!)));
  t.ok(settled.ms >= 0, `three checkers: every tag written and held, each holding its share (${settled.ms} ms)`) || t.comment(tail());
  const held = ids.map((id) => count(settled.last.holders, id));
  t.ok(Math.max(...held) <= 110, `each holds at most 110 tags: ${held.join(', ')}`);
  gapCheck.armed = true;

  // SIGKILL one: its member key and its tag locks expire with its session/lease; the others take its tags.
  const [dead, ...alive] = three as [Checker, Checker, Checker];
  const itsTags = shares(ids).get(dead.id)!;
  const killedAt = Date.now();
  await killAndWait(dead.child);
  const aliveIds = alive.map((c) => c.id);
  // The store ends the dead sessions/leases: etcd at the TTL after the last renew, Consul between the
  // TTL and twice it (its documented grace; the double adds up to 1 s). Each tag's lock has its own
  // session, so they end over a TTL/3 after the member key; then the others take the tags at once.
  const takeover = await watchStore(t, store, 2 * ttlMs + 10_000, (v) => itsTags.every((tag) => aliveIds.includes(v.holders.get(tag) ?? '')));
  const tookMs = takeover.ms < 0 ? -1 : Date.now() - killedAt;
  const storeGraceMs = storeFlags[1] === 'consul' ? ttlMs : 0;
  // The goal (TTL + 2 s, bench/README) is reported; the bound leaves room for a loaded machine, where
  // taking ~100 locks alone can pass 2 s. Without the hand-over the tags are never held by the others.
  const goalMs = ttlMs + storeGraceMs + 2000;
  t.ok(tookMs >= 0 && tookMs <= goalMs + 5000, `all ${itsTags.length} tags of the killed checker held by the others ${tookMs} ms after the SIGKILL (goal: lock TTL ${ttlMs} ms${storeGraceMs ? " + Consul's grace" : ''} + 2 s, ${tookMs >= 0 && tookMs <= goalMs ? 'met' : 'missed'})`) || t.comment(tail());
  const two = await watchStore(t, store, 10_000, (v) => aliveIds.every((id) => holdsExactly(v.holders, id, shares(aliveIds).get(id)!)));
  t.ok(two.ms >= 0, 'the two left hold exactly their shares');
  t.ok(Math.max(...aliveIds.map((id) => count(two.last.holders, id))) <= loadCap(300, 2));

  // A fourth joins: it holds its share within 5 s, taken over from the others without an entry going missing.
  const startedAt = Date.now();
  const fourth = start(3);
  const now = [...aliveIds, fourth.id];
  // Joining is its member key appearing (Node's start-up and loading before that are not sharing's).
  const member = await watchStore(t, store, 30_000, (v) => v.members.includes(fourth.id));
  t.ok(member.ms >= 0, `the fourth is a member ${member.ms} ms after it was started`);
  const joinedAt = Date.now();
  const joined = await watchStore(t, store, 15_000, (v) => v.holders.size === 300 && now.every((id) => holdsExactly(v.holders, id, shares(now).get(id)!)));
  const joinMs = joined.ms < 0 ? -1 : Date.now() - joinedAt;
  t.ok(joinMs >= 0 && joinMs <= 10_000, `the fourth holds its ${shares(now).get(fourth.id)!.length} tags ${joinMs} ms after it joined, ${Date.now() - startedAt} ms after it was started (goal 5 s from joining, ${joinMs >= 0 && joinMs <= 5000 ? 'met' : 'missed'}; 10 s allowed on a loaded machine)`) || t.comment(tail());
  t.same(gapCheck.missing, [], 'no entry disappeared while tags moved');
  t.comment(`${storeFlags[1]}: takeover ${tookMs} ms (TTL ${ttlMs} ms), join ${joinMs} ms`);

  // A clean stop hands the tags and the member key back at once (SIGTERM).
  for (const c of checkers.slice(1)) c.child.kill('SIGTERM');
  const gone = await watchStore(t, store, 15_000, (v) => v.holders.size === 0 && v.members.length === 0);
  t.ok(gone.ms >= 0 && gone.ms < ttlMs, `SIGTERM: every lock and member key handed back in ${gone.ms} ms, before any TTL`);
  gapCheck.armed = false;
}

t.test('over the Consul double', async (t) => {
  const double = await startConsulDouble({ recordRequests: false });
  t.teardown(() => double.close());
  const store = createConsulStore({ address: double.address });
  t.teardown(() => store.close());
  // Consul refuses a session TTL under 10 s (the double too), so the bins raise --lock-ttl to it.
  await scenario(t, store, ['--backend', 'consul', '--node', double.address], CONSUL_SESSION_TTL_MIN_MS);
});

t.test('over etcd', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const store = createEtcdStore({ nodes: [etcd.endpoint] });
  t.teardown(() => store.close());
  await scenario(t, store, ['--backend', 'etcd', '--node', etcd.endpoint], 3000);
});
