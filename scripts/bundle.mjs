#!/usr/bin/env node
// `node scripts/bundle.mjs DIR`: lay out in DIR the confd-haproxy package as it is published — one
// package that needs nothing from a registry. Each command in bin/ is bundled with esbuild from the
// compiled workspace (packages/*/dist) and its third-party libraries; what a run may not need
// (a command's program, execa, the metrics, etcd's gRPC stack) stays in chunks of lib/ that load
// when first imported, as they do in the workspace.
//
// Paths the code finds at run time, relative to its own file, are kept true:
//   lib/render-worker.js   a file of its own beside the chunks (the template engine starts it by
//                          `new URL` from its chunk)
//   package.json           one level above lib/ and bin/ (`--version`, VERSION)
//   node_modules/etcd3     etcd3 and gRPC bundled into one file, shipped as a bundled dependency:
//                          the kv package loads it with require('etcd3') on first use, and etcd3
//                          reads its .proto files from beside its own lib/
//   node_modules/cockatiel the same for the fault policies kv gives etcd3 (require('cockatiel'))
//   share/                 the resource, templates and units (scripts/share.mjs)
// and THIRD-PARTY-NOTICES.md holds the license of every library bundled in.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { etcd3ParsedProtos } from './etcd3-protos.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/cli');
const requireFromKv = createRequire(join(root, 'packages/kv/package.json'));

/** Bundled ESM still holds CommonJS libraries: they get a real require (for node's built-ins) in every output file. */
const ESM_REQUIRE = "import { createRequire as __confdCreateRequire } from 'node:module';\nconst require = __confdCreateRequire(import.meta.url);";

/** The published manifest: the workspace's, less what only the workspace needs (its dependencies are inside the bundle). */
function manifest() {
  const m = JSON.parse(readFileSync(join(cli, 'package.json'), 'utf8'));
  const version = (name) => JSON.parse(readFileSync(requireFromKv.resolve(`${name}/package.json`), 'utf8')).version;
  for (const key of ['main', 'types', 'exports', 'scripts', 'dependencies', 'devDependencies']) delete m[key];
  return {
    ...m,
    files: ['bin', 'lib', 'share', 'README.md', 'LICENSE', 'THIRD-PARTY-NOTICES.md'],
    dependencies: Object.fromEntries(BUNDLED_DEPENDENCIES.map(({ name }) => [name, version(name)])),
    bundleDependencies: BUNDLED_DEPENDENCIES.map(({ name }) => name),
  };
}

/**
 * The workspace packages import nothing for its side effects (no bare `import './x.js'`), so a
 * chunk holds only the modules whose exports are used: the render worker, which needs kv's catalog
 * helpers, does not load the Consul client with them.
 */
const workspaceHasNoSideEffects = {
  name: 'workspace-side-effects',
  setup(b) {
    const packages = join(root, 'packages') + '/';
    b.onResolve({ filter: /^(@confd-haproxy\/|\.)/, namespace: 'file' }, async (args) => {
      if (args.pluginData === 'resolving') return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
      if (r.errors.length > 0) return { errors: r.errors };
      return { path: r.path, sideEffects: !r.path.startsWith(packages) };
    });
  },
};

/** What every ESM output shares. */
const ESM = {
  absWorkingDir: root,
  metafile: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['etcd3'],
  banner: { js: ESM_REQUIRE },
  legalComments: 'inline',
  logLevel: 'warning',
  plugins: [workspaceHasNoSideEffects],
};

/** Every command: bin/<name>.js with the `--version` fast path, its program one dynamic import away. */
async function bundleCommands(out, bins) {
  const result = await build({
    ...ESM,
    entryPoints: bins.map((bin) => ({ in: join(cli, 'bin', `${bin}.js`), out: `bin/${bin}` })),
    outdir: out,
    splitting: true,
    chunkNames: 'lib/[name]-[hash]',
  });
  return result.metafile;
}

/**
 * The render worker in one file of its own, not split with the commands: a chunk shared with them
 * would bring along what they need beside the template engine (the store clients, chokidar), and
 * every worker start would load it.
 */
async function bundleRenderWorker(out) {
  const result = await build({ ...ESM, entryPoints: [join(root, 'packages/template/dist/render-worker.js')], outfile: join(out, 'lib/render-worker.js') });
  return result.metafile;
}

/**
 * The libraries kv loads by name at run time (require, not import: esbuild cannot follow it), each
 * shipped as a bundled dependency in node_modules/<name>, with the files it reads beside its code.
 */
const BUNDLED_DEPENDENCIES = [
  { name: 'etcd3', files: ['proto'], plugins: (dir) => [etcd3ParsedProtos(dir)] },
  { name: 'cockatiel', files: [] },
];

/** One library (with its own dependencies: etcd3's gRPC and protobuf) in one CommonJS file, the files it reads beside it where it looks for them. */
async function bundleDependency(out, { name, files, plugins }) {
  const pkg = dirname(requireFromKv.resolve(`${name}/package.json`));
  const meta = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
  const dest = join(out, 'node_modules', name);
  const result = await build({
    absWorkingDir: root,
    metafile: true,
    entryPoints: [requireFromKv.resolve(name)],
    outfile: join(dest, 'lib/index.cjs'),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    legalComments: 'inline',
    logLevel: 'warning',
    plugins: plugins?.(pkg) ?? [],
  });
  for (const f of files) cpSync(join(pkg, f), join(dest, f), { recursive: true });
  const license = readdirSync(pkg).find((f) => /^licen[sc]e/i.test(f));
  if (license) cpSync(join(pkg, license), join(dest, license));
  const bundled = { name: meta.name, version: meta.version, description: `${meta.description ?? name} (bundled with its dependencies)`, license: meta.license, main: 'lib/index.cjs' };
  writeFileSync(join(dest, 'package.json'), `${JSON.stringify(bundled, null, 2)}\n`);
  return result.metafile;
}

/**
 * The libraries esbuild took in (by the inputs of its metafiles) with their license files: MIT and
 * its kin ask that the notice travel with the code. Hand-written: a few lines over metafiles esbuild
 * already gives, where a plugin would be one more dependency.
 */
function thirdPartyNotices(metafiles) {
  const dirs = new Set();
  for (const input of metafiles.flatMap((m) => Object.keys(m.inputs))) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) dirs.add(match[1]);
  }
  const sections = [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    const file = readdirSync(join(root, dir)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const text = file ? readFileSync(join(root, dir, file), 'utf8').trim() : `(no license file in the package; package.json says ${pkg.license ?? 'nothing'})`;
    return `## ${pkg.name} ${pkg.version} (${pkg.license ?? 'unknown'})\n\n\`\`\`\n${text}\n\`\`\`\n`;
  });
  return `# Third-party notices\n\nThe code in lib/ and ${BUNDLED_DEPENDENCIES.map(({ name }) => `node_modules/${name}`).join(' and ')} bundles these libraries.\n\n${sections.join('\n')}`;
}

/** Lay out the published package in out (emptied first); returns esbuild's metafile of the commands. */
export async function bundle(out) {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'scripts/share.mjs')], { cwd: root, stdio: 'inherit' });
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const m = manifest();
  const metafile = await bundleCommands(out, Object.values(m.bin).map((path) => basename(path, '.js')));
  const worker = await bundleRenderWorker(out);
  const dependencies = [];
  for (const d of BUNDLED_DEPENDENCIES) dependencies.push(await bundleDependency(out, d));
  writeFileSync(join(out, 'THIRD-PARTY-NOTICES.md'), thirdPartyNotices([metafile, worker, ...dependencies]));
  cpSync(join(cli, 'share'), join(out, 'share'), { recursive: true });
  for (const f of ['README.md', 'LICENSE']) cpSync(join(cli, f), join(out, f));
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(m, null, 2)}\n`);
  return metafile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? 'bundle');
  await bundle(out);
  process.stdout.write(`${out}: ${readdirSync(join(out, 'lib')).length} files in lib/\n`);
}
