#!/usr/bin/env node
// The haproxy-reload command as a process: the program is commands/haproxy-reload.ts, which runs nothing on import.
import { main } from './commands/haproxy-reload.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
