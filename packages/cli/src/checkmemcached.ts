#!/usr/bin/env node
// The checkmemcached command as a process: the program is commands/checkmemcached.ts, which runs nothing on import.
import { main } from './commands/checkmemcached.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
