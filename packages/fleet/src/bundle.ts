// The shared part of the configuration as one versioned bundle in the store: conf.d resources,
// templates and partials, with a monotonic version, a checksum, who pushed it and when. One key,
// written with CAS, so a reader sees a whole bundle or the previous one, never a mix.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { KVReader, KVWriter } from '@confd-haproxy/kv';
import { BUNDLE_KEY, CONFIG_PREFIX } from '@confd-haproxy/schema';
import { FleetError } from './errors.js';
import { keyIdOfPrivate, signBundle, type BundleSignature } from './trust.js';

export { BUNDLE_KEY, CONFIG_PREFIX };

/** Path (conf.d/x.toml, templates/…) → content. */
export type BundleFiles = Record<string, string>;

export interface Bundle {
  version: number;
  /** sha256 over the sorted paths and contents. */
  checksum: string;
  /** Instance id of the pusher. */
  pushedBy: string;
  host: string;
  pushedAt: string;
  files: BundleFiles;
  /** The environment it was pushed for (push --environment); instances adopt only their own (--environment). */
  environment?: string;
  /** The pusher's Ed25519 signature over every other field (push --sign-key). */
  signature?: BundleSignature;
}

export type BundleInfo = Omit<Bundle, 'files'>;

const PATH = /^(conf\.d\/[^/]+\.toml|templates\/[A-Za-z0-9_.\-/]+)$/;
const skipped = (name: string) => name.startsWith('.') || name.endsWith('~') || name.endsWith('.swp');

/** conf.d/*.toml and every file under templates/ (editor leftovers skipped). */
export function readBundleFiles(confdir: string): BundleFiles {
  const files: BundleFiles = {};
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    for (const name of readdirSync(dir).sort()) {
      if (skipped(name)) continue;
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path, depth + 1);
      else if (st.isFile()) files[relative(confdir, path).split(sep).join('/')] = readFileSync(path, 'utf8');
    }
  };
  const confd = join(confdir, 'conf.d');
  if (!existsSync(confd)) throw new FleetError('FLEET_BUNDLE_REFUSED', `${confdir}: no conf.d/ directory to push`);
  for (const name of readdirSync(confd).sort()) if (name.endsWith('.toml') && !skipped(name)) files[`conf.d/${name}`] = readFileSync(join(confd, name), 'utf8');
  if (existsSync(join(confdir, 'templates'))) walk(join(confdir, 'templates'), 0);
  if (!Object.keys(files).some((p) => p.startsWith('conf.d/'))) throw new FleetError('FLEET_BUNDLE_REFUSED', `${confdir}/conf.d: no *.toml resource to push`);
  return files;
}

export function bundleChecksum(files: BundleFiles): string {
  const h = createHash('sha256');
  for (const path of Object.keys(files).sort()) h.update(path).update('\0').update(files[path]!).update('\0');
  return h.digest('hex');
}

/** A stored bundle, checked field by field; errors name the key. */
export function parseBundle(value: string, key = BUNDLE_KEY): Bundle {
  const bad = (what: string): never => {
    throw new FleetError('FLEET_BAD_BUNDLE', `${key}: ${what}`);
  };
  let b: Partial<Bundle>;
  try {
    b = JSON.parse(value) as Partial<Bundle>;
  } catch (err) {
    return bad(`not JSON (${(err as Error).message})`);
  }
  if (!b || typeof b !== 'object') bad('not an object');
  if (!Number.isInteger(b.version) || b.version! < 1) bad(`version ${JSON.stringify(b.version)} is not a whole number ≥ 1`);
  if (typeof b.pushedBy !== 'string' || typeof b.host !== 'string' || typeof b.pushedAt !== 'string') bad('pushedBy, host and pushedAt must be strings');
  if (!b.files || typeof b.files !== 'object') bad('files is not an object');
  for (const [path, content] of Object.entries(b.files!)) {
    if (!PATH.test(path) || path.split('/').includes('..')) bad(`file "${path}" is not under conf.d/ or templates/`);
    if (typeof content !== 'string') bad(`file "${path}" is not text`);
  }
  if (b.signature !== undefined) {
    const sig = b.signature as Partial<BundleSignature> | null;
    if (!sig || sig.alg !== 'ed25519' || typeof sig.keyId !== 'string' || !/^[0-9a-f]{64}$/.test(sig.keyId) || typeof sig.sig !== 'string') bad('signature must be { alg: "ed25519", keyId, sig }');
  }
  const sum = bundleChecksum(b.files!);
  if (b.checksum !== sum) bad(`checksum ${String(b.checksum).slice(0, 12)}… does not match the files (${sum.slice(0, 12)}…): a damaged or hand-edited bundle`);
  return b as Bundle;
}

/** Write the files into dir (made whole in a temp dir, then renamed into place); dir stays as it is when it exists. */
export function materializeBundle(files: BundleFiles, dir: string): string {
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const [path, content] of Object.entries(files)) {
    const target = join(tmp, path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileSync(target, content);
  }
  mkdirSync(join(tmp, 'templates'), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  try {
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw new FleetError('FLEET_STATE', `${dir}: cannot write the bundle (${(err as Error).message})`, { cause: err });
  }
  return dir;
}

export const bundleDir = (stateDir: string, b: Pick<Bundle, 'version' | 'checksum'>) => join(stateDir, 'bundles', `v${b.version}-${b.checksum.slice(0, 12)}`);

/** What an instance runs: the adopted bundle, kept in <state-dir>/fleet.json. */
export interface Applied {
  version: number;
  checksum: string;
  dir: string;
  appliedAt: string;
}

export function readApplied(stateDir: string): Applied | undefined {
  try {
    const a = JSON.parse(readFileSync(join(stateDir, 'fleet.json'), 'utf8')) as Applied;
    return Number.isInteger(a.version) && typeof a.dir === 'string' && existsSync(a.dir) ? a : undefined;
  } catch {
    return undefined;
  }
}

export function writeApplied(stateDir: string, a: Applied): void {
  const file = join(stateDir, 'fleet.json');
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, `${JSON.stringify(a, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    throw new FleetError('FLEET_STATE', `${file}: cannot record the applied bundle (${(err as Error).message})`, { cause: err });
  }
}

/** The version field of a stored value that is not a good bundle (0 when it has none). */
function storedVersion(value: string): number {
  try {
    const v = (JSON.parse(value) as { version?: unknown }).version;
    return Number.isInteger(v) && (v as number) > 0 ? (v as number) : 0;
  } catch {
    return 0;
  }
}

/**
 * Publish files as the next version with CAS (a concurrent push makes this one re-read and retry).
 * The same files as the current bundle publish nothing. `prepare` runs before each write with the
 * version about to be published (the pusher applies it locally there) and may refuse by throwing.
 */
export async function publishBundle(
  store: KVReader & KVWriter,
  files: BundleFiles,
  who: { id: string; host: string },
  prepare?: (b: Bundle) => Promise<void>,
  signKey?: KeyObject,
): Promise<{ bundle: Bundle; changed: boolean }> {
  const checksum = bundleChecksum(files);
  const keyId = signKey ? keyIdOfPrivate(signKey) : undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const pair = await store.get(BUNDLE_KEY);
    let cur: Bundle | undefined;
    try {
      cur = pair ? parseBundle(pair.value) : undefined;
    } catch {
      cur = undefined; // a damaged bundle is replaced; its version number is kept going
    }
    // The same files are published again only to sign them (or sign them with another key).
    if (cur?.checksum === checksum && (!keyId || cur.signature?.keyId === keyId)) return { bundle: cur, changed: false };
    const prevVersion = cur?.version ?? (pair ? storedVersion(pair.value) : 0);
    const unsigned: Bundle = { version: prevVersion + 1, checksum, pushedBy: who.id, host: who.host, pushedAt: new Date().toISOString(), files };
    const bundle: Bundle = signKey ? signBundle(unsigned, signKey) : unsigned;
    // What every instance will check when it reads it (file names, checksum): refused here first.
    try {
      parseBundle(JSON.stringify(bundle), 'the bundle to push');
    } catch (err) {
      throw new FleetError('FLEET_BUNDLE_REFUSED', (err as Error).message, { cause: err });
    }
    await prepare?.(bundle);
    if (await store.put(BUNDLE_KEY, JSON.stringify(bundle), { cas: pair?.modifyIndex ?? 0 })) return { bundle, changed: true };
  }
  throw new FleetError('FLEET_BUNDLE_REFUSED', `${BUNDLE_KEY}: other pushes kept changing it; try again`);
}
