#!/usr/bin/env node
// After tsc: make every declared bin executable (tsc writes 0644), so bins run by path too
// (systemd units, reload_cmd) and not only through node_modules/.bin.
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const pkg of readdirSync(join(root, 'packages'))) {
  const file = join(root, 'packages', pkg, 'package.json');
  if (!existsSync(file)) continue;
  const { bin = {} } = JSON.parse(readFileSync(file, 'utf8'));
  for (const target of Object.values(bin)) {
    const path = join(root, 'packages', pkg, target);
    if (existsSync(path)) chmodSync(path, 0o755);
  }
}
