#!/usr/bin/env node
// The checkmysqlslave command as a process: the program is commands/checkmysqlslave.ts, which runs nothing on import.
import { main } from './commands/checkmysqlslave.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
