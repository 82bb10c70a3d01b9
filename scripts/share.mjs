#!/usr/bin/env node
// For the one tarball (scripts/bundle.mjs): copy what a user installs beside the commands — the
// shipped resource, templates and systemd units — into packages/cli/share/ (git-ignored).
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const share = join(root, 'packages/cli/share');
rmSync(share, { recursive: true, force: true });
for (const [from, to] of [['conf.d', 'conf.d'], ['templates', 'templates'], ['deploy/systemd', 'systemd']]) {
  cpSync(join(root, from), join(share, to), { recursive: true });
}
