// Bundles on their own: what a push reads from a confdir, what it refuses before publishing, what
// readers refuse, and what status makes of a bundle that is not one. Over the file store.
import t from 'tap';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { bundleChecksum, parseBundle, publishBundle, readBundleFiles, readFleet, BUNDLE_KEY } from '@confd-haproxy/fleet';

const who = { id: '00000000-0000-4000-8000-000000000001', host: 'ci' };

t.test('a push reads conf.d/*.toml and templates/, without editor leftovers', async (t) => {
  const dir = t.testdir({ 'conf.d': { 'a.toml': 'x', '.a.toml.swp': 'y', 'notes.txt': 'z' }, templates: { 'a.hbs': 'A', 'a.hbs~': 'old', partials: { 'p.hbs': 'P' } } });
  t.same(Object.keys(readBundleFiles(dir)).sort(), ['conf.d/a.toml', 'templates/a.hbs', 'templates/partials/p.hbs']);
  t.throws(() => readBundleFiles(t.testdir({ templates: {} })), { code: 'FLEET_BUNDLE_REFUSED', message: /no conf.d\/ directory to push/ });
});

t.test('versions count up with CAS; the same files publish nothing; a file name readers would refuse is refused here', async (t) => {
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  t.teardown(() => store.close());
  const one = await publishBundle(store, { 'conf.d/a.toml': 'a' }, who);
  t.match(one, { changed: true, bundle: { version: 1, pushedBy: who.id, host: 'ci' } });
  t.match(await publishBundle(store, { 'conf.d/a.toml': 'a' }, who), { changed: false, bundle: { version: 1 } });
  t.match(await publishBundle(store, { 'conf.d/a.toml': 'b' }, who), { changed: true, bundle: { version: 2 } });
  await t.rejects(publishBundle(store, { 'conf.d/a.toml': 'c', 'templates/my map.hbs': 'x' }, who), { code: 'FLEET_BUNDLE_REFUSED', message: /file "templates\/my map.hbs" is not under conf.d\/ or templates\// });
  t.equal(parseBundle((await store.get(BUNDLE_KEY))!.value).version, 2, 'nothing was written');
});

t.test('a bundle whose files do not match its checksum is refused by readers, and status says so', async (t) => {
  const store = createFileStore({ file: join(t.testdir({}), 'kv.json') });
  t.teardown(() => store.close());
  const files = { 'conf.d/a.toml': 'a' };
  const tampered = { version: 3, checksum: bundleChecksum(files), pushedBy: who.id, host: 'ci', pushedAt: new Date().toISOString(), files: { 'conf.d/a.toml': 'edited by hand' } };
  await store.put(BUNDLE_KEY, JSON.stringify(tampered));
  t.throws(() => parseBundle(JSON.stringify(tampered)), { code: 'FLEET_BAD_BUNDLE', message: /haproxy\/.config\/bundle: checksum .* does not match the files/ });
  t.throws(() => parseBundle('{"version":0}'), { message: /version 0 is not a whole number ≥ 1/ });
  t.throws(() => parseBundle(JSON.stringify({ ...tampered, version: 2 ** 60 })), { message: /version 1152921504606847000 is not a whole number ≥ 1/ }, 'a version past 2^53 (where +1 stops counting) is refused');
  t.throws(() => parseBundle(JSON.stringify({ ...tampered, files, environment: 'prod uction' })), { code: 'FLEET_BAD_BUNDLE', message: /environment "prod uction": an environment is 1 to 63 letters/ });
  await store.put('haproxy/.status/x', JSON.stringify({ id: 'x', host: 'h', pid: 1, startedAt: '', version: 2, checksum: 'c', dests: {} }));
  const view = await readFleet(store);
  t.match(view.bundleProblem, /does not match the files/);
  t.equal(view.converged, false, 'a broken bundle is never a converged fleet');
  t.match(await publishBundle(store, files, who), { changed: true, bundle: { version: 4 } }, 'a push replaces it and keeps counting');
});
