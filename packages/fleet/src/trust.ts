// Who may change what every instance runs: a bundle is signed with the pusher's Ed25519 key
// (node:crypto) and an instance with trusted keys adopts only bundles one of them signed.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from './errors.js';
import type { Bundle, BundleSignature, TrustedKey } from './types.js';
import { rolloutFields } from './rollout.js';

export type { BundleSignature, TrustedKey } from './types.js';

const keyIdOf = (publicKey: KeyObject) => createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');

/** The key id a private key signs with. */
export const keyIdOfPrivate = (privateKey: KeyObject) => keyIdOf(createPublicKey(privateKey));

/**
 * What is signed: every field but the signature, in a fixed order, the files sorted by path. A
 * bundle for an environment signs it too (format 2); one without is signed as before (format 1),
 * so removing or adding an environment breaks the signature either way.
 */
export function signedBytes(b: Omit<Bundle, 'signature'>): Buffer {
  const files = Object.keys(b.files)
    .sort()
    .map((path) => [path, b.files[path]]);
  const fields = [b.version, b.checksum, b.pushedBy, b.host, b.pushedAt, files];
  // A canary rollout is signed too (format 3): its audience and rules cannot be changed or dropped.
  if (b.rollout) return Buffer.from(JSON.stringify(['confd-haproxy bundle 3', ...fields, b.environment ?? null, rolloutFields(b.rollout)]));
  return Buffer.from(JSON.stringify(b.environment === undefined ? ['confd-haproxy bundle 1', ...fields] : ['confd-haproxy bundle 2', ...fields, b.environment]));
}

/** `keygen --out DIR`: DIR/push.key (PKCS#8 PEM, 0600) and DIR/push.pub (SPKI PEM); never overwrites. */
export function generatePushKey(dir: string): { keyFile: string; pubFile: string; keyId: string } {
  const keyFile = join(dir, 'push.key');
  const pubFile = join(dir, 'push.pub');
  for (const f of [keyFile, pubFile]) if (existsSync(f)) throw new FleetError('FLEET_KEY', `${f} exists already; remove it or choose another --out`);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  } catch (err) {
    throw new FleetError('FLEET_KEY', `${dir}: cannot write the key pair (${(err as Error).message})`, { cause: err });
  }
  return { keyFile, pubFile, keyId: keyIdOf(publicKey) };
}

const readKeyFile = (file: string, flag: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetError('FLEET_KEY', `${flag} ${file}: cannot read it (${(err as Error).message})`, { cause: err });
  }
};

/** A --trust-key file: an Ed25519 public key in PEM. */
export function readTrustKey(file: string): TrustedKey {
  const text = readKeyFile(file, '--trust-key');
  // createPublicKey would derive one from a private key: the signing key must never sit on an instance.
  if (/PRIVATE KEY/.test(text)) throw new FleetError('FLEET_KEY', `--trust-key ${file}: a private key; give the public one (push.pub) and keep push.key with the pusher`);
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (err) {
    if (err instanceof FleetError) throw err;
    throw new FleetError('FLEET_KEY', `--trust-key ${file}: not a PEM public key (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new FleetError('FLEET_KEY', `--trust-key ${file}: a ${key.asymmetricKeyType} key, not Ed25519 (make one with confd-haproxy keygen)`);
  return { file, keyId: keyIdOf(key), key };
}

/** A --sign-key file: an Ed25519 private key in PEM, readable by its owner only (as ssh insists). */
export function readSignKey(file: string): KeyObject {
  const text = readKeyFile(file, '--sign-key');
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new FleetError('FLEET_KEY', `--sign-key ${file}: mode ${mode.toString(8).padStart(4, '0')} lets others read the private key; chmod 600 it`);
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (err) {
    throw new FleetError('FLEET_KEY', `--sign-key ${file}: not a PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new FleetError('FLEET_KEY', `--sign-key ${file}: a ${key.asymmetricKeyType} key, not Ed25519 (make one with confd-haproxy keygen)`);
  return key;
}

/** The bundle with its signature (made over every other field). */
export function signBundle<B extends Omit<Bundle, 'signature'>>(b: B, privateKey: KeyObject): B & { signature: BundleSignature } {
  const { signature: _old, ...unsigned } = b as B & { signature?: unknown };
  const keyId = keyIdOfPrivate(privateKey);
  return { ...(unsigned as B), signature: { alg: 'ed25519', keyId, sig: sign(null, signedBytes(unsigned as B), privateKey).toString('base64') } };
}

/** Why the bundle is not signed by one of the trusted keys, or undefined when it is. */
export function untrustedReason(b: Bundle, trusted: readonly TrustedKey[]): string | undefined {
  return signatureProblem(b.signature, () => signedBytes(b), trusted, 'the bundle');
}

/** Why `sig` is not a good signature over bytes() by one of the trusted keys (`what` names the signed thing), or undefined. */
export function signatureProblem(sig: BundleSignature | undefined, bytes: () => Buffer, trusted: readonly TrustedKey[], what: string): string | undefined {
  const s = sig;
  if (!s) return `${what} is not signed`;
  const key = trusted.find((k) => k.keyId === s.keyId);
  if (!key) return `signed by key ${String(s.keyId).slice(0, 12)}…, which is not a --trust-key`;
  let ok = false;
  try {
    ok = verify(null, bytes(), key.key, Buffer.from(String(s.sig), 'base64'));
  } catch {
    ok = false;
  }
  return ok ? undefined : `the signature by key ${String(s.keyId).slice(0, 12)}… (${key.file}) does not match ${what}`;
}

/** The signature of bytes by privateKey, as bundles and rollout records carry it. */
export function signatureOf(bytes: Buffer, privateKey: KeyObject): BundleSignature {
  return { alg: 'ed25519', keyId: keyIdOfPrivate(privateKey), sig: sign(null, bytes, privateKey).toString('base64') };
}

/** Whether b carries a good signature by this private key's public half. */
export function signedWith(b: Bundle, privateKey: KeyObject): boolean {
  const publicKey = createPublicKey(privateKey);
  return b.signature?.keyId === keyIdOf(publicKey) && untrustedReason(b, [{ file: '--sign-key', keyId: b.signature.keyId, key: publicKey }]) === undefined;
}
