#!/usr/bin/env node
// `npm run quickstart`: the main job on the embedded file store, with nothing else installed.
// Renders examples/quickstart/kv.json through the shipped templates into out/haproxy.cfg.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
mkdirSync('out', { recursive: true });
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const args = ['--onetime', '--backend', 'file', '--file', 'examples/quickstart/kv.json', '--confdir', 'examples/quickstart', '--state-dir', 'out/state', '--log-level', 'info'];
console.log(`$ confd-haproxy ${args.join(' ')}`);
const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
console.log('\n--- out/haproxy.cfg ---');
process.stdout.write(readFileSync('out/haproxy.cfg', 'utf8'));
if (existsSync('/usr/sbin/haproxy')) {
  const c = spawnSync('/usr/sbin/haproxy', ['-c', '-f', 'out/haproxy.cfg'], { stdio: 'inherit', env: { ...process.env } });
  process.exit(c.status ?? 1);
}
