// The shared part of the configuration as one versioned bundle in the store: conf.d resources,
// templates and partials, with a monotonic version, a checksum, who pushed it and when. One key,
// written with CAS, so a reader sees a whole bundle or the previous one, never a mix.
import { createHash, KeyObject } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { KVPair, KVReader, KVWriter } from '@confd-haproxy/kv';
import { BUNDLE_KEY, CONFIG_PREFIX, STATUS_PREFIX } from '@confd-haproxy/schema';
import { FleetError } from './errors.js';
import { environmentProblem } from './scope.js';
import { rolloutProblem } from './rollout.js';
import { signBundle, signedWith } from './trust.js';
import type { Bundle, BundleFiles, BundleInfo, BundleSignature, Rollout } from './types.js';

export { BUNDLE_KEY, CONFIG_PREFIX };
export type { Bundle, BundleFiles, BundleInfo } from './types.js';

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
  if (!Number.isSafeInteger(b.version) || b.version! < 1) bad(`version ${JSON.stringify(b.version)} is not a whole number ≥ 1`);
  if (typeof b.pushedBy !== 'string' || typeof b.host !== 'string' || typeof b.pushedAt !== 'string') bad('pushedBy, host and pushedAt must be strings');
  if (!b.files || typeof b.files !== 'object') bad('files is not an object');
  for (const [path, content] of Object.entries(b.files!)) {
    if (!PATH.test(path) || path.split('/').includes('..')) bad(`file "${path}" is not under conf.d/ or templates/`);
    if (typeof content !== 'string') bad(`file "${path}" is not text`);
  }
  if (b.environment !== undefined) {
    const problem = typeof b.environment === 'string' ? environmentProblem(b.environment) : 'not a string';
    if (problem) bad(`environment ${JSON.stringify(b.environment)}: ${problem}`);
  }
  if (b.rollout !== undefined) {
    const problem = rolloutProblem(b.rollout);
    if (problem) bad(`rollout: ${problem}`);
  }
  if (b.signature !== undefined) {
    const sig = b.signature as Partial<BundleSignature> | null;
    if (!sig || sig.alg !== 'ed25519' || typeof sig.keyId !== 'string' || !/^[0-9a-f]{64}$/.test(sig.keyId) || typeof sig.sig !== 'string') bad('signature must be { alg: "ed25519", keyId, sig }');
  }
  const sum = bundleChecksum(b.files!);
  if (b.checksum !== sum) bad(`checksum ${String(b.checksum).slice(0, 12)}… does not match the files (${sum.slice(0, 12)}…): a damaged or hand-edited bundle`);
  return b as Bundle;
}

/** Every file under dir's conf.d/ and templates/ as the bundle's files (what a materialized bundle holds, nothing skipped). */
export function readBundleTree(dir: string): BundleFiles {
  const files: BundleFiles = {};
  const walk = (rel: string, depth: number) => {
    const abs = join(dir, rel);
    if (depth > 16 || !existsSync(abs)) return;
    for (const name of readdirSync(abs).sort()) {
      const path = `${rel}/${name}`;
      const st = lstatSync(join(dir, path));
      if (st.isDirectory()) walk(path, depth + 1);
      else files[path] = readFileSync(join(dir, path), 'utf8');
    }
  };
  walk('conf.d', 0);
  walk('templates', 0);
  return files;
}

/** Why dir does not hold exactly these files (a file added, missing or changed), or undefined. */
export function treeProblem(dir: string, files: BundleFiles): string | undefined {
  let found: BundleFiles;
  try {
    found = readBundleTree(dir);
  } catch (err) {
    return `cannot read it (${(err as Error).message})`;
  }
  const paths = new Set([...Object.keys(found), ...Object.keys(files)]);
  const differ = [...paths].filter((p) => found[p] !== files[p]).sort();
  return differ.length ? `${differ.slice(0, 3).join(', ')}${differ.length > 3 ? ', …' : ''} differ from the bundle` : undefined;
}

/** Write the files into dir (made whole in a temp dir, then renamed into place); a dir that holds them already stays as it is. */
export function materializeBundle(files: BundleFiles, dir: string): string {
  if (existsSync(dir)) {
    if (!treeProblem(dir, files)) return dir;
    rmSync(dir, { recursive: true, force: true }); // not what the bundle holds: written again
  }
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
  /** The bundle as adopted, but its files (those are in dir): what a restart checks against the trusted keys. Absent when kept by an earlier release. */
  bundle?: BundleInfo;
}

export function readApplied(stateDir: string): Applied | undefined {
  try {
    const a = JSON.parse(readFileSync(join(stateDir, 'fleet.json'), 'utf8')) as Applied;
    return Number.isInteger(a.version) && typeof a.dir === 'string' && existsSync(a.dir) ? a : undefined;
  } catch {
    return undefined;
  }
}

/** What fleet.json records of b, adopted from dir at appliedAt. */
export function appliedOf(b: Bundle, dir: string, appliedAt = new Date().toISOString()): Applied {
  const { files: _files, ...bundle } = b;
  return { version: b.version, checksum: b.checksum, dir, appliedAt, bundle };
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

/** The files of a bundle kept under <state-dir>/bundles/ (`version`, or `version-<checksum prefix>` when several share it), for push --rollback-to. */
export function keptBundleFiles(stateDir: string, which: string): { version: number; checksum: string; files: BundleFiles } {
  const m = /^v?(\d+)(?:-([0-9a-f]{1,64}))?$/.exec(which);
  if (!m) throw new FleetError('FLEET_BUNDLE_REFUSED', `--rollback-to: "${which}" is not a version (e.g. 3, or 3-1a2b3c when several kept bundles have version 3)`);
  const root = join(stateDir, 'bundles');
  const names = existsSync(root) ? readdirSync(root) : [];
  const kept = names.filter((n) => {
    const k = /^v(\d+)-([0-9a-f]{12})$/.exec(n);
    return k && Number(k[1]) === Number(m[1]) && (!m[2] || k[2]!.startsWith(m[2].slice(0, 12)));
  });
  if (kept.length !== 1) {
    const what = kept.length ? `several kept bundles have version ${m[1]} (${kept.join(', ')}); name one as ${m[1]}-<checksum prefix>` : `no bundle version ${m[1]} is kept under ${root} (an instance keeps the bundles it adopted: use its --state-dir)`;
    throw new FleetError('FLEET_BUNDLE_REFUSED', `--rollback-to ${which}: ${what}`);
  }
  const dir = join(root, kept[0]!);
  const files = readBundleTree(dir);
  const checksum = bundleChecksum(files);
  if (!checksum.startsWith(kept[0]!.slice(-12))) throw new FleetError('FLEET_BUNDLE_REFUSED', `--rollback-to ${which}: ${dir} no longer holds the files of that bundle (checksum ${checksum.slice(0, 12)})`);
  return { version: Number(m[1]), checksum, files };
}

/** The version field of a stored value (a bundle that does not parse, an instance's status); 0 when it has none. */
function storedVersion(value: string): number {
  try {
    const v = (JSON.parse(value) as { version?: unknown }).version;
    return Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : 0;
  } catch {
    return 0;
  }
}

/**
 * The highest version the fleet knows of: the bundle key's, and every version an instance says it
 * runs (after a store reset the instances publish theirs again; a trusting instance refuses any
 * version not above its own, so a push must count on from there).
 */
async function highestVersion(store: KVReader, pair: KVPair | undefined, cur: Bundle | undefined): Promise<number> {
  const statuses = await store.list(STATUS_PREFIX);
  return Math.max(cur?.version ?? (pair ? storedVersion(pair.value) : 0), ...statuses.pairs.map((p) => storedVersion(p.value)));
}

export interface PublishOptions {
  /** Sign the bundle with this Ed25519 key (push --sign-key). */
  signKey?: KeyObject;
  /** The environment it is for (push --environment). */
  environment?: string;
  /** A canary rollout (push --canary): published with the bundle, signed with it. */
  rollout?: Rollout;
}

/** The store holds these files already, for this environment, and signed with signKey when one is given: nothing to publish. */
const alreadyPublished = (cur: Bundle | undefined, checksum: string, opts: PublishOptions): cur is Bundle =>
  !opts.rollout && !cur?.rollout && cur?.checksum === checksum && (cur.environment ?? '') === (opts.environment ?? '') && (!opts.signKey || signedWith(cur, opts.signKey));

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
  opts: PublishOptions | KeyObject = {},
): Promise<{ bundle: Bundle; changed: boolean }> {
  const { signKey, environment, rollout } = opts instanceof KeyObject ? { signKey: opts, environment: undefined, rollout: undefined } : opts;
  const checksum = bundleChecksum(files);
  for (let attempt = 0; attempt < 5; attempt++) {
    const pair = await store.get(BUNDLE_KEY);
    let cur: Bundle | undefined;
    try {
      cur = pair ? parseBundle(pair.value) : undefined;
    } catch {
      cur = undefined; // a damaged bundle is replaced; its version number is kept going
    }
    // The same files are published again only to sign them (with another key, or because the stored signature is broken) or to scope them.
    if (alreadyPublished(cur, checksum, { signKey, environment, rollout })) return { bundle: cur, changed: false };
    const version = (await highestVersion(store, pair, cur)) + 1;
    const unsigned: Bundle = { version, checksum, pushedBy: who.id, host: who.host, pushedAt: new Date().toISOString(), files, ...(environment ? { environment } : {}), ...(rollout ? { rollout } : {}) };
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
