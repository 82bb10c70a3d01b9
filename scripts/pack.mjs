#!/usr/bin/env node
// `node scripts/pack.mjs DIR`: `npm pack` every published package into DIR (the image build and
// the install test use it). Prints npm's JSON report: one entry per tarball, with its files.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dest = resolve(process.argv[2] ?? 'tarballs');
mkdirSync(dest, { recursive: true });
const workspaces = readdirSync(join(root, 'packages'))
  .filter((dir) => !JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')).private)
  .flatMap((dir) => ['-w', `packages/${dir}`]);
const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dest, ...workspaces], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
process.stdout.write(out.slice(out.indexOf('[')));
