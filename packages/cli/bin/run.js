// What every committed entry point does: `--version` alone is answered from package.json before
// anything else loads (a version check costs no more than starting node); everything else loads the
// command's program and runs it.
import { readFileSync } from 'node:fs';

/** Run dist/commands/<command>.js's main with this process's arguments; its code becomes the exit code. */
export async function run(command) {
  const argv = process.argv.slice(2);
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-version')) {
    process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
    return;
  }
  const { main } = await import(`../dist/commands/${command}.js`);
  process.exitCode = await main(argv);
}
