// Checkers sharing tags through the file store (several processes may share one file), in one
// process: each member its own store client, as each checker process has.
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { createFileStore, KVError, type KVStore } from '@confd-haproxy/kv';
import { assignTags, Membership, runSharedTagCheckers, TagChecker } from '@confd-haproxy/checker';
import { locksPrefix } from '@confd-haproxy/schema';
import { pingKind, quiet, startPingService, storeWith, within, type PingService } from './helpers.js';

const TAGS = Array.from({ length: 24 }, (_, i) => `p${i}`);
const TTL = 1500;
const LOCKS = locksPrefix('ping');

interface Member {
  id: string;
  /** Passes its tag checkers made. */
  readonly passes: number;
  stop(): Promise<void>;
}

/** A member checking every tag against `svcs`, preferring them in that order (not sticky: it would move every entry to its first). */
function member(t: Test, file: string, id: string, svcs: PingService | PingService[], wrap: (s: KVStore) => KVStore = (s) => s): Member {
  const targets = Array.isArray(svcs) ? svcs : [svcs];
  const store = wrap(createFileStore({ file }));
  const ac = new AbortController();
  let passes = 0;
  const membership = new Membership({ store, kind: 'ping', checker: id, tags: TAGS, ttlMs: TTL, logger: quiet });
  const done = runSharedTagCheckers({
    tags: TAGS,
    membership,
    locks: { store, prefix: LOCKS },
    open: (tag) => new TagChecker({ tag, kind: pingKind({ targets, sticky: false }), store, logger: quiet, checker: id, timeoutMs: 300, retryUp: 1, retryDown: 1, lockTtlMs: TTL }),
    intervalMs: 200,
    onPass: () => passes++,
    signal: ac.signal,
    logger: quiet,
    bin: 'test',
  });
  const stop = async () => {
    ac.abort();
    await done;
    await store.close();
  };
  t.teardown(stop);
  return {
    id,
    stop,
    get passes() {
      return passes;
    },
  };
}

/** Lock holder of each tag (held locks only). */
async function holders(store: KVStore): Promise<Map<string, string>> {
  const snap = await store.list(LOCKS);
  return new Map(snap.pairs.filter((p) => p.session).map((p) => [p.key.slice(LOCKS.length), p.value]));
}

const holdsShares = (h: Map<string, string>, ids: string[]) => {
  const a = assignTags(TAGS, ids);
  return h.size === TAGS.length && TAGS.every((tag) => h.get(tag) === a.get(tag));
};

async function setup(t: Test) {
  const svc = await startPingService();
  t.teardown(() => svc.close());
  const file = join(t.testdir({}), 'kv.json');
  const reader = createFileStore({ file });
  t.teardown(() => reader.close());
  return { svc, file, reader };
}

t.test('two members split the tags as the assignment says; one that stops hands its tags to the other at once', async (t) => {
  const { svc, file, reader } = await setup(t);
  const a = member(t, file, 'host-a:1', svc);
  const b = member(t, file, 'host-b:2', svc);
  t.ok((await within(10_000, async () => holdsShares(await holders(reader), [a.id, b.id]))) >= 0, 'each holds exactly its share');
  t.ok((await within(5000, async () => (await reader.list('haproxy/ping/')).pairs.length === TAGS.length)) >= 0, 'every tag has its entry');
  await b.stop();
  // Its locks and its member key are handed back on the way out: no TTL to wait for.
  const ms = await within(TTL, async () => holdsShares(await holders(reader), [a.id]));
  t.ok(ms >= 0, `the other holds every tag ${ms} ms after the stop, within the TTL`);
});

t.test('a member that joins takes its share from the others, who release those locks at once', async (t) => {
  const { svc, file, reader } = await setup(t);
  const a = member(t, file, 'host-a:1', svc);
  const b = member(t, file, 'host-b:2', svc);
  t.ok((await within(10_000, async () => holdsShares(await holders(reader), [a.id, b.id]))) >= 0);
  const c = member(t, file, 'host-c:3', svc);
  // Without the release the old holders would keep renewing: the joiner would never get a lock.
  const ms = await within(TTL, async () => holdsShares(await holders(reader), [a.id, b.id, c.id]));
  t.ok(ms >= 0, `the three hold their shares ${ms} ms after the join, within the TTL`);
});

t.test('a member whose key the store refuses checks every tag, a standby where another holds the lock: never a second writer', async (t) => {
  const { svc, file, reader } = await setup(t);
  const other = await startPingService();
  t.teardown(() => other.close());
  const a = member(t, file, 'host-a:1', [svc, other]);
  t.ok((await within(10_000, async () => holdsShares(await holders(reader), [a.id]))) >= 0, 'alone, it holds every tag');
  // As an ACL without the .checkers rule: the member key cannot be taken.
  const refused = (s: KVStore) =>
    storeWith(s, {
      acquireLock: (key, opts) => (key.startsWith('haproxy/.checkers/') ? Promise.reject(new Error('permission denied')) : s.acquireLock(key, opts)),
    });
  // It prefers the other server: were it to write while the member holds the locks, the entries would flip to it.
  const b = member(t, file, 'host-b:2', [other, svc], refused);
  t.ok((await within(10_000, () => b.passes >= 2 * TAGS.length)) >= 0, 'the refused one checks every tag (two passes each)');
  t.ok(holdsShares(await holders(reader), [a.id]), 'the member keeps every tag: the refused one stands by');
  const writers = new Set((await reader.list('haproxy/ping/')).pairs.map((p) => (JSON.parse(p.value) as { checker: string }).checker));
  t.same([...writers], [a.id], 'every entry was written by the member alone');
  await a.stop();
  const ms = await within(TTL + 2000, async () => holdsShares(await holders(reader), ['host-b:2']));
  t.ok(ms >= 0, `the stand-by takes every tag once the member is gone (${ms} ms)`);
});

t.test('a member that may not read who else checks (etcd answers permission denied) checks every tag', async (t) => {
  const { svc, file, reader } = await setup(t);
  const denied = () => Promise.reject(new KVError('KV_FORBIDDEN', 'permission denied'));
  const forbidden = (s: KVStore) =>
    storeWith(s, {
      list: (p, o) => (p.startsWith('haproxy/.checkers/') ? denied() : s.list(p, o)),
      watch: (p, since, o) => (p.startsWith('haproxy/.checkers/') ? denied() : s.watch(p, since, o)),
    });
  member(t, file, 'host-a:1', svc, forbidden);
  const ms = await within(10_000, async () => holdsShares(await holders(reader), ['host-a:1']));
  t.ok(ms >= 0, `it holds every tag (${ms} ms)`);
});
