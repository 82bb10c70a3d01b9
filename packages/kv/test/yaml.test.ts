// confd's file backend: YAML files and directories, read-only, flattened as confd 0.17 flattens
// them, watched by content. (Byte-for-byte rendering against confd itself: test/confd/.)
import t from 'tap';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createYamlStore, isKVError, openStore } from '@confd-haproxy/kv';

const pairsOf = async (files: string[], prefix = '') => Object.fromEntries((await createYamlStore({ files }).list(prefix)).pairs.map((p) => [p.key, p.value]));

t.test('nested maps and lists become keys; yaml.v2 resolves plain scalars by YAML 1.1', async (t) => {
  const dir = t.testdir({ 'a.yaml': 'db:\n  host: h\n  enabled: yes\n  mode: 0777\n  none: ~\n  big: 18446744073709551615\n  f: 1.5e3\nlist:\n  - x\n  - k: v\n' });
  t.same(await pairsOf([join(dir, 'a.yaml')]), { 'db/host': 'h', 'db/enabled': 'true', 'db/mode': '511', 'db/f': '1500', 'list/0': 'x', 'list/1/k': 'v' });
  t.same(await pairsOf([join(dir, 'a.yaml')], 'db/h'), { 'db/host': 'h' }, 'a prefix reads only its keys');
});

t.test('a directory is read in lexical order, recursively, and a later file wins', async (t) => {
  const dir = t.testdir({ conf: { '1.yaml': 'k: one\nonly1: a\n', '2.yml': 'k: two\n', sub: { '0.yaml': 'k: three\n' } }, 'last.yaml': 'k: four\n' });
  t.same(await pairsOf([join(dir, 'conf')]), { k: 'three', only1: 'a' }, 'conf/sub/0.yaml comes after conf/2.yml');
  t.same(await pairsOf([join(dir, 'conf'), join(dir, 'last.yaml')]), { k: 'four', only1: 'a' });
});

t.test('what confd would stop on or read differently is refused, naming the file', async (t) => {
  const cases: Record<string, RegExp> = {
    '1: x\n': /the map key "1" .* is not a string/,
    'on: x\n': /the map key "on" .* is not a string/,
    'base: &b {a: 1}\nother:\n  <<: *b\n': /merge key/,
    '- a\n- b\n': /the top level is not a map/,
    'k: !!binary aGk=\n': /the tag/,
    'k: [unclosed\n': /not YAML/,
  };
  for (const [text, why] of Object.entries(cases)) {
    const dir = t.testdir({ 'bad.yaml': text });
    await t.rejects(pairsOf([join(dir, 'bad.yaml')]), { code: 'KV_CORRUPT', message: why }, JSON.stringify(text));
  }
  await t.rejects(pairsOf([join(t.testdir({}), 'missing.yaml')]), { code: 'KV_CONFIG', message: /missing\.yaml: cannot read/ });
});

t.test('the YAML store is read-only', async (t) => {
  const dir = t.testdir({ 'a.yaml': 'k: v\n' });
  const store = openStore({ backend: 'file', files: [join(dir, 'a.yaml')] });
  const err = await store.put('k', 'w').catch((e: unknown) => e);
  t.ok(isKVError(err, 'KV_CONFIG'), 'put refused');
  t.match((err as Error).message, /read-only/);
});

t.test('a watch answers when a file changes, and holds while nothing does', async (t) => {
  const dir = t.testdir({ 'a.yaml': 'k: v1\n' });
  const store = createYamlStore({ files: [join(dir, 'a.yaml')], pollMs: 50 });
  const first = await store.list('');
  const ac = new AbortController();
  const held = Date.now();
  const same = await store.watch('', first.index, { signal: ac.signal, waitMs: 300 });
  t.ok(Date.now() - held >= 250, 'held until its wait ran out');
  t.equal(same.index, first.index);
  const changed = store.watch('', first.index, { signal: ac.signal, waitMs: 10_000 });
  writeFileSync(join(dir, 'a.tmp'), 'k: v2\n');
  renameSync(join(dir, 'a.tmp'), join(dir, 'a.yaml'));
  const snap = await changed;
  t.ok(snap.index > first.index, 'a new index');
  t.same(snap.pairs.map((p) => p.value), ['v2']);
});
