// Each backend is one descriptor: its flags, its confd.toml settings, its capabilities.
import t from 'tap';
import { join } from 'node:path';
import { isKVError, openStore, STORE_BACKENDS, STORE_DESCRIPTORS, storeCapabilities } from '@confd-haproxy/kv';

t.test('the backends are the descriptors, in the order messages list them', async (t) => {
  t.same(STORE_BACKENDS, ['consul', 'etcd', 'file']);
});

t.test('a flag two backends take is declared alike, so the bins register it once', async (t) => {
  const bySpelling = new Map<string, string>();
  for (const d of STORE_DESCRIPTORS) {
    for (const f of d.flags) {
      const seen = bySpelling.get(f.names[0]!);
      if (seen) t.equal(JSON.stringify(f), seen, `${d.backend}: ${f.names[0]}`);
      bySpelling.set(f.names[0]!, JSON.stringify(f));
    }
  }
  const spellings = STORE_DESCRIPTORS.flatMap((d) => d.flags.flatMap((f) => f.names));
  t.ok(spellings.every((n) => /^--[a-z][a-z-]*$/.test(n)), 'every spelling is a long flag');
});

t.test('the JSON file store can do everything; confd\'s YAML files only read and watch', async (t) => {
  t.same(storeCapabilities({ backend: 'file', file: 'kv.json' }), ['read', 'watch', 'write', 'lock']);
  t.same(storeCapabilities({ backend: 'file', files: ['kv.yaml'] }), ['read', 'watch']);
  t.same(storeCapabilities({ backend: 'consul' }), ['read', 'watch', 'write', 'lock']);
});

t.test('a writer is refused a read-only store before it is opened; a reader gets it, and a write through it fails naming it', async (t) => {
  const dir = t.testdir({ 'a.yaml': 'k: v\n' });
  const opts = { backend: 'file' as const, files: [join(dir, 'a.yaml')] };
  t.throws(() => openStore(opts, 'write'), { code: 'USAGE', message: /^--backend file: confd's YAML files are read-only \(it cannot write or lock\)/ });
  const store = openStore(opts);
  t.same((await store.list('')).pairs.map((p) => `${p.key}=${p.value}`), ['k=v']);
  const err = await store.acquireLock('k', { holder: 'me' }).catch((e: unknown) => e);
  t.ok(isKVError(err, 'KV_CONFIG'));
  t.match((err as Error).message, /^file .*a\.yaml \(YAML\) is read-only \(locks\)$/);
  await store.close();
});
