#!/usr/bin/env node
// `node scripts/pack.mjs DIR`: the one tarball a publish uploads, confd-haproxy-<version>.tgz, into
// DIR (the image build and the install test use it): the package laid out by scripts/bundle.mjs in
// a temporary directory, then `npm pack`ed from there. It installs with no registry: every command's
// dependencies are inside. Prints npm's JSON report: one entry, with its files.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundle } from './bundle.mjs';

const dest = resolve(process.argv[2] ?? 'tarballs');
mkdirSync(dest, { recursive: true });
const stage = mkdtempSync(join(tmpdir(), 'confd-haproxy-pack-'));
try {
  const pkg = join(stage, 'package');
  await bundle(pkg);
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dest], { cwd: pkg, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(out.slice(out.indexOf('[')));
} finally {
  rmSync(stage, { recursive: true, force: true });
}
