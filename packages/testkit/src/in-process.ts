// A command run in the test's own process (spawning a bin costs a second of CPU or more): every
// program of the cli is a function of its argv and the two streams it writes to.
import { PassThrough, type Writable } from 'node:stream';

/** A program as the cli's commandMain gives it: argv and its streams in, an exit code out. */
export type InProcessMain = (argv: string[], io: { stdout: Writable; stderr: Writable }) => Promise<number>;

/** Runs main to its end; its exit code and what it wrote to each stream. */
export async function runInProcess(main: InProcessMain, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const code = await main(argv, { stdout, stderr });
  return { code, out: String(stdout.read() ?? ''), err: String(stderr.read() ?? '') };
}
