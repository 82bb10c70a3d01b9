#!/usr/bin/env node
// The checkredis command as a process: the program is commands/checkredis.ts, which runs nothing on import.
import { main } from './commands/checkredis.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
