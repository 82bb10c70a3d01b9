// Trust on its own: push keys, signatures, the local command and dest policy, and the credentials
// a push refuses. Over the file store.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileStore } from '@confd-haproxy/kv';
import { commandAllowed, loadResources, policyProblems } from '@confd-haproxy/resource';
import {
  findSecrets,
  generatePushKey,
  parseBundle,
  publishBundle,
  pushConfig,
  readBundleFiles,
  readSignKey,
  readTrustKey,
  runFleet,
  signBundle,
  untrustedReason,
  BUNDLE_KEY,
} from '@confd-haproxy/fleet';
import { quiet } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const who = { id: '00000000-0000-4000-8000-000000000001', host: 'ci' };

t.test('keygen writes a private key only its owner can read and a public key, and never overwrites them', async (t) => {
  const dir = join(t.testdir({}), 'keys');
  const k = generatePushKey(dir);
  t.equal(statSync(k.keyFile).mode & 0o777, 0o600, 'push.key is 0600');
  t.match(readFileSync(k.keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  t.match(readFileSync(k.pubFile, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  t.match(k.keyId, /^[0-9a-f]{64}$/);
  t.throws(() => generatePushKey(dir), { code: 'FLEET_KEY', message: /push\.key exists already/ });
  t.equal(readTrustKey(k.pubFile).keyId, k.keyId, 'the public key has the same key id');
});

t.test('a key file that is not what the flag wants is an error naming the flag and the file', async (t) => {
  const dir = t.testdir({ 'garbage.pem': 'hello' });
  const k = generatePushKey(join(dir, 'k'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  writeFileSync(join(dir, 'rsa.pub'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'rsa.key'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  t.throws(() => readTrustKey(k.keyFile), { code: 'FLEET_KEY', message: /--trust-key .*push\.key: a private key; give the public one/ });
  t.throws(() => readTrustKey(join(dir, 'rsa.pub')), { message: /--trust-key .*rsa\.pub: a rsa key, not Ed25519/ });
  t.throws(() => readTrustKey(join(dir, 'garbage.pem')), { message: /--trust-key .*garbage\.pem: not a PEM public key/ });
  t.throws(() => readTrustKey(join(dir, 'missing.pub')), { message: /--trust-key .*missing\.pub: cannot read it/ });
  t.throws(() => readSignKey(join(dir, 'rsa.key')), { message: /--sign-key .*rsa\.key: a rsa key, not Ed25519/ });
  chmodSync(k.keyFile, 0o644);
  t.throws(() => readSignKey(k.keyFile), { code: 'FLEET_KEY', message: /--sign-key .*push\.key: mode 0644 lets others read the private key; chmod 600 it/ });
});

t.test('a signature covers every field: changing any of them makes the bundle untrusted', async (t) => {
  const dir = t.testdir({});
  const k = generatePushKey(join(dir, 'k'));
  const other = generatePushKey(join(dir, 'other'));
  const trusted = [readTrustKey(k.pubFile)];
  const files = { 'conf.d/a.toml': 'a' };
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const { bundle } = await publishBundle(store, files, who, undefined, readSignKey(k.keyFile));
  const stored = parseBundle((await store.get(BUNDLE_KEY))!.value);
  t.equal(untrustedReason(stored, trusted), undefined, 'the stored bundle verifies');
  t.equal(untrustedReason(stored, [readTrustKey(other.pubFile), ...trusted]), undefined, 'with any of several trusted keys (rotation)');
  for (const change of [{ version: bundle.version + 1 }, { pushedBy: 'someone' }, { host: 'elsewhere' }, { pushedAt: '2020-01-01T00:00:00.000Z' }, { environment: 'production' }]) {
    t.match(untrustedReason({ ...stored, ...change }, trusted), /^the signature by key \w+… .* does not match the bundle$/, `changing ${Object.keys(change)[0]}`);
  }
  t.equal(untrustedReason({ ...stored, signature: undefined }, trusted), 'the bundle is not signed');
  t.match(untrustedReason(signBundle(stored, readSignKey(other.keyFile)), trusted), /^signed by key \w+…, which is not a --trust-key$/);
  t.match(untrustedReason({ ...stored, signature: { ...stored.signature!, sig: 'not base64 at all' } }, trusted), /does not match the bundle/);
  t.throws(() => parseBundle(JSON.stringify({ ...stored, signature: 'yes' })), { code: 'FLEET_BAD_BUNDLE', message: /signature must be/ });
});

t.test('the same files are published again to sign them, and not again once signed with that key', async (t) => {
  const dir = t.testdir({});
  const k = generatePushKey(join(dir, 'k'));
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const files = { 'conf.d/a.toml': 'a' };
  t.match(await publishBundle(store, files, who), { changed: true, bundle: { version: 1 } });
  const signed = await publishBundle(store, files, who, undefined, readSignKey(k.keyFile));
  t.match(signed, { changed: true, bundle: { version: 2, signature: { keyId: k.keyId } } });
  t.match(await publishBundle(store, files, who, undefined, readSignKey(k.keyFile)), { changed: false, bundle: { version: 2 } });
  t.match(await publishBundle(store, files, who), { changed: false, bundle: { version: 2 } }, 'an unsigned push of the same files leaves the signed bundle');
  const stored = parseBundle((await store.get(BUNDLE_KEY))!.value);
  await store.put(BUNDLE_KEY, JSON.stringify({ ...stored, signature: { ...stored.signature!, sig: Buffer.alloc(64).toString('base64') } }));
  t.match(await publishBundle(store, files, who, undefined, readSignKey(k.keyFile)), { changed: true, bundle: { version: 3 } }, 'a copy with a broken signature is published over');
  t.match(await publishBundle(store, files, who, undefined, { signKey: readSignKey(k.keyFile), environment: 'production' }), { changed: true, bundle: { version: 4, environment: 'production' } }, 'and so are the same files for an environment');
});

t.test('a command is allowed when its words match a pattern\'s, a glob word never spanning a space or a shell operator', async (t) => {
  const allow = ['systemctl reload haproxy', '/usr/sbin/haproxy -c -f *', 'haproxy-reload --master-socket /run/haproxy-?.sock'];
  const src = '/etc/haproxy/.haproxy.cfg.0123456789ab';
  t.ok(commandAllowed('systemctl reload haproxy', allow));
  t.ok(commandAllowed('systemctl reload haproxy ', allow), 'spaces between words do not matter');
  t.ok(commandAllowed('/usr/sbin/haproxy -c -f {{.src}}', allow, src));
  t.ok(commandAllowed('haproxy-reload --master-socket /run/haproxy-1.sock', allow));
  for (const cmd of [
    'systemctl reload haproxy; touch /tmp/x',
    '/usr/sbin/haproxy -c -f {{ .src }} -q',
    '/usr/sbin/haproxy -c -f {{.src}}; touch /tmp/x',
    '/usr/sbin/haproxy -c -f {{.src}} && touch /tmp/x',
    '/usr/sbin/haproxy -c -f {{.src}} || touch /tmp/x',
    '/usr/sbin/haproxy -c -f $(touch /tmp/x)',
    '/usr/sbin/haproxy -c -f `touch /tmp/x`',
    '/usr/sbin/haproxy -c -f x > /etc/passwd',
    '/usr/sbin/haproxy -c -f x\ntouch /tmp/x',
    'haproxy-reload --master-socket /run/haproxy-;.sock',
    'touch /tmp/x',
  ]) {
    t.notOk(commandAllowed(cmd, allow, src), `refused: ${JSON.stringify(cmd)}`);
  }
  t.notOk(commandAllowed('anything', []), 'no pattern allows nothing (an empty policy is not checked at all)');
});

t.test('a dest must be a file --allow-dest names, or lie under a directory it names with a trailing /, once symlinks are resolved', async (t) => {
  const dir = t.testdir({ confdir: { 'conf.d': {}, templates: { 't.hbs': 'x' } }, allowed: { sub: {} }, elsewhere: {} });
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'allowed/link'));
  const write = (dest: string) => writeFileSync(join(dir, 'confdir/conf.d/r.toml'), `[template]\nsrc = "t.hbs"\ndest = "${dest}"\nkeys = ["/a"]\n`);
  const problems = async (dest: string, allowDests = [`${join(dir, 'allowed')}/`]) => {
    write(dest);
    return policyProblems(await loadResources({ confdir: join(dir, 'confdir'), destDir: join(dir, 'allowed') }), { allowCommands: [], allowDests });
  };
  t.same(await problems(join(dir, 'allowed/haproxy.cfg')), []);
  t.same(await problems(join(dir, 'allowed/sub/haproxy.cfg')), []);
  t.same(await problems('haproxy.cfg'), [], 'a relative dest resolves against the instance\'s --confdir');
  t.same(await problems('-'), [], 'dest "-" renders to stdout and writes no file');
  t.match(await problems(join(dir, 'elsewhere/haproxy.cfg')), [/conf\.d\/r\.toml: dest .*elsewhere\/haproxy\.cfg is outside every --allow-dest/]);
  t.match(await problems(join(dir, 'allowed/link/haproxy.cfg')), [/dest .*allowed\/link\/haproxy\.cfg \(.*elsewhere\/haproxy\.cfg\) is outside every --allow-dest/], 'through a symlink');
  t.match(await problems(join(dir, 'allowed/sub/../../elsewhere/haproxy.cfg')), [/is outside every --allow-dest/], 'through ..');
  symlinkSync('/etc/passwd', join(dir, 'allowed/passwd'));
  t.match(await problems(join(dir, 'allowed/passwd')), [/dest .*allowed\/passwd is a symlink to \/etc\/passwd, outside every --allow-dest/], 'a dest that is itself a symlink out');

  const file = [join(dir, 'allowed/haproxy.cfg')];
  t.same(await problems(join(dir, 'allowed/haproxy.cfg'), file), [], 'a file --allow-dest names');
  t.same(await problems(join(dir, 'allowed/link/../haproxy.cfg'), file), [], 'the same file spelled otherwise');
  t.match(await problems(join(dir, 'allowed/other.cfg'), file), [/dest .*allowed\/other\.cfg is outside every --allow-dest/], 'another file beside it');
  symlinkSync(join(dir, 'allowed/haproxy.cfg'), join(dir, 'elsewhere/into.cfg'));
  t.match(await problems(join(dir, 'elsewhere/into.cfg'), file), [/dest .*elsewhere\/into\.cfg is outside every --allow-dest/], 'a link outside that leads to the allowed file: the write would replace the link');
  t.match(await problems(join(dir, 'allowed/haproxy.cfg'), [join(dir, 'allowed')]), [/--allow-dest .*allowed is a directory: --allow-dest names files .*write --allow-dest .*allowed\//], 'a directory without the trailing / says how to write it');
});

t.test('credentials in a bundle are found by shape and named by file and line, never by value', async (t) => {
  const found = findSecrets({
    'conf.d/a.toml': 'password = "s3cretpw"\nkeys = ["/a"]\n',
    'templates/a.hbs': [
      'userlist admins',
      '    user admin insecure-password hunter22',
      '    stats auth admin:hunter22',
      '    server db mysql://monitor:pw123@10.0.0.1/',
      '# api_key: AKIAABCDEFGHIJKLMNOP',
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      'token: ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ',
    ].join('\n'),
  });
  t.same(
    found.map((f) => `${f.file}:${f.line}`),
    ['conf.d/a.toml:1', 'templates/a.hbs:2', 'templates/a.hbs:3', 'templates/a.hbs:4', 'templates/a.hbs:5', 'templates/a.hbs:6', 'templates/a.hbs:7'],
  );
  t.notMatch(JSON.stringify(found), /s3cretpw|hunter22|pw123/, 'no value is repeated');
  t.same(
    findSecrets({
      'templates/b.hbs': ['password = {{getenv "DB_PASSWORD"}}', 'password = $DB_PASSWORD', '    stats auth {{user}}:{{pass}}', '# the password stays out of haproxy.cfg', 'server x {{host}}:{{port}}'].join('\n'),
    }),
    [],
    'template expressions, environment references and prose are not credentials',
  );
  const shipped = readBundleFiles(root);
  t.ok(Object.keys(shipped).length > 3);
  t.same(findSecrets(shipped), [], 'the shipped conf.d and templates push without --allow-secrets');
  for (const k8s of readdirSync(join(root, 'deploy/k8s/conf.d'))) t.same(findSecrets({ [k8s]: readFileSync(join(root, 'deploy/k8s/conf.d', k8s), 'utf8') }), [], `deploy/k8s/conf.d/${k8s}`);
});

t.test('push refuses a confdir holding a credential unless --allow-secrets', async (t) => {
  const dir = t.testdir({ 'conf.d': { 'a.toml': '[template]\nsrc = "a.hbs"\ndest = "a.cfg"\nkeys = ["/a"]\n' }, templates: { 'a.hbs': 'global\n    stats auth admin:hunter22\n' } });
  const store = createFileStore({ file: join(dir, 'kv.json') });
  t.teardown(() => store.close());
  const push = (allowSecrets: boolean) => pushConfig({ store, confdir: dir, stateDir: join(dir, 'state'), logger: quiet, signal: new AbortController().signal, allowSecrets });
  const err = await push(false).catch((e: Error & { code?: string }) => e);
  t.match(err, { code: 'FLEET_BUNDLE_REFUSED', message: /not pushed, it looks like it holds credentials .*keep them in files on the hosts or in the environment, or push with --allow-secrets\):\n {2}templates\/a\.hbs:2: an HAProxy stats auth$/ });
  t.notMatch((err as Error).message, /hunter22/);
  t.equal(await store.get(BUNDLE_KEY), undefined, 'nothing was published');
  t.match(await push(true), { changed: true, bundle: { version: 1 } }, '--allow-secrets pushes it');
});

t.test('an instance without --trust-key warns once, at start, that any store writer can change its commands', async (t) => {
  const dir = t.testdir({ 'conf.d': { 'a.toml': '[template]\nsrc = "a.hbs"\ndest = "a.cfg"\nkeys = ["/a"]\n' }, templates: { 'a.hbs': 'x\n' } });
  mkdirSync(join(dir, 'state'));
  const k = generatePushKey(join(dir, 'k'));
  for (const trustKeys of [[], [readTrustKey(k.pubFile)]]) {
    const store = createFileStore({ file: join(dir, 'kv.json') });
    const warnings: string[] = [];
    const ac = new AbortController();
    let passes = 0;
    const running = runFleet({ store, confdir: dir, stateDir: join(dir, 'state'), logger: { ...quiet, warn: (m: string) => warnings.push(m) }, signal: ac.signal, trustKeys, onPass: () => passes++ });
    for (let i = 0; i < 100 && passes < 1; i++) await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await running;
    await store.close();
    const about = warnings.filter((w) => w.includes('--trust-key'));
    if (trustKeys.length) t.same(about, [], 'no warning with a trusted key');
    else t.same(about, [`no --trust-key: any principal that can write ${BUNDLE_KEY} can change the commands this instance runs`]);
  }
});
