#!/usr/bin/env node
// The checkgalera command as a process: the program is commands/checkgalera.ts, which runs nothing on import.
import { main } from './commands/checkgalera.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
