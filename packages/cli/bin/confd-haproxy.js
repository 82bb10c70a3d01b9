#!/usr/bin/env node
// The confd-haproxy command: a committed entry point, so npm links it before dist/ is built.
import { main } from '../dist/commands/confd-haproxy.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
