#!/usr/bin/env node
// The checkmemcached command: a committed entry point, so npm links it before dist/ is built.
import { main } from '../dist/commands/checkmemcached.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
