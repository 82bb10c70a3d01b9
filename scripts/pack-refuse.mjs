#!/usr/bin/env node
// packages/cli's prepack: the workspace package is not packed or published on its own — its
// tarball would need the @confd-haproxy/* packages from a registry. The published package is the
// one tarball scripts/pack.mjs makes (scripts/bundle.mjs lays it out, without this script).
process.stderr.write('packages/cli is not packed on its own (its tarball would need the @confd-haproxy/* workspace packages from a registry): make the one tarball with `node scripts/pack.mjs DIR` and publish DIR/confd-haproxy-<version>.tgz\n');
process.exit(1);
