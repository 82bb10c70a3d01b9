#!/usr/bin/env node
// The confd-haproxy command as a process: the program is commands/confd-haproxy.ts, which runs nothing on import.
import { main } from './commands/confd-haproxy.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
