// One resource's stage/check/swap: stage in dest's directory with the final mode → compare → check
// the stage file → atomic swap, with a rollback for later. Applying the swap is apply/'s job. Where
// the write lands is resolved and checked against --allow-dest when it happens, not only at load.
import { randomBytes } from 'node:crypto';
import { constants, unlinkSync } from 'node:fs';
import { copyFile, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { DEFAULT_COMMAND_TIMEOUT_MS } from '@confd-haproxy/base';
import { describeFailure, runCommand, type CommandResult, type RunnerLogger } from '@confd-haproxy/runner';
import { commandRefusal, invocation, stagePath, type CommandMode } from './command-policy.js';
import { destProblem, writeLocation, type DestPolicy } from './dest-policy.js';
import { ResourceError } from './errors.js';
import { specialFileKind, type ResourceConfig } from './load.js';

export interface SwapOptions {
  /** Compute the diff only; write nothing, run nothing. */
  noop?: boolean;
  /**
   * Compute the unified diff on a real pass too. Default: only with noop, the one caller that prints
   * it (plan, -noop); a diff of a large dest costs tens of ms cold, on every change and every -onetime.
   */
  diff?: boolean;
  /** Write dest but skip check_cmd. */
  syncOnly?: boolean;
  keepStageFile?: boolean;
  /** Unless the resource sets command_timeout. Default 30 s. */
  commandTimeoutMs?: number;
  /** The environment of check_cmd. */
  env?: Record<string, string | undefined>;
  /** How check_cmd runs (command-policy.ts): through /bin/sh (the default, as confd) or as argv words. */
  commandMode?: CommandMode;
  /** --allow-dest, checked again against where each write lands when it happens. */
  policy?: DestPolicy;
  logger?: RunnerLogger;
  signal?: AbortSignal;
}

export interface SwapResult {
  resource: string;
  dest: string;
  changed: boolean;
  checked: boolean;
  /** Unified diff of dest, old → new ("" when unchanged, or on a real pass unless SwapOptions.diff asks for it). */
  diff: string;
  /** dest's content before this pass (undefined when it did not exist). */
  previous?: string;
  error?: ResourceError;
  commands: CommandResult[];
  /**
   * Put the previous dest back (remove dest if there was none), only while dest still holds what
   * this pass wrote: false when another writer replaced or edited it since (it is left as it is).
   * A no-op (true) when nothing was swapped.
   */
  rollback(): Promise<boolean>;
}

export interface ResourceResult extends Omit<SwapResult, 'rollback' | 'previous'> {
  reloaded: boolean;
  rolledBack: boolean;
  /** Runtime API commands applied instead of a reload. */
  runtime?: string[];
}

interface FileState {
  content: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

/** Stage files that exist now (not yet swapped in or removed), for a hard exit. */
const liveStages = new Set<string>();

/** Remove every stage file still beside its dest: the process is about to exit at once. */
export function removeStageFilesSync(): void {
  for (const stage of liveStages) {
    try {
      unlinkSync(stage);
    } catch {
      // Already gone.
    }
  }
  liveStages.clear();
}

async function removeStage(stage: string): Promise<void> {
  liveStages.delete(stage);
  await unlink(stage).catch(() => {});
}

/** A dest that exists but is not a regular file (a FIFO, a device, a socket): never read or replaced. */
function notRegularFile(resource: string, dest: string, st: Parameters<typeof specialFileKind>[0]): ResourceError | undefined {
  const what = specialFileKind(st);
  return what ? new ResourceError('RESOURCE_INVALID', `${resource}: dest ${dest} is ${what}, not a regular file; it is left alone (dest = "-" writes to stdout)`) : undefined;
}

/**
 * Where a write to dest lands now (its real directory, its own name), once the policy allows that
 * place now: a directory or a link swapped in since the resources loaded is caught here. A
 * ResourceError (RESOURCE_NOT_ALLOWED) when it does not.
 */
export function writeTarget(resource: string, dest: string, policy: DestPolicy | undefined): string {
  const problem = policy ? destProblem(dest, policy) : undefined;
  if (problem) throw new ResourceError('RESOURCE_NOT_ALLOWED', `${resource}: ${problem} at the time of writing; nothing was read or written there`);
  return writeLocation(dest);
}

/** dest's content for the render guards; undefined when it does not exist; a ResourceError when it is not a regular file or not allowed now. */
export async function readDest(resource: string, dest: string, policy?: DestPolicy): Promise<string | undefined> {
  try {
    return (await readState(writeTarget(resource, dest, policy), resource))?.content.toString();
  } catch (err) {
    if (err instanceof ResourceError) throw err;
    return undefined;
  }
}

async function readState(path: string, resource = path): Promise<FileState | undefined> {
  try {
    // stat first: reading a FIFO or a device would block or never end.
    const st = await stat(path);
    const refused = notRegularFile(resource, path, st);
    if (refused) throw refused;
    const content = await readFile(path);
    return { content, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write a file next to dest with the final mode and owner from its first byte; returns its path. */
async function writeStage(dest: string, content: Buffer, mode: number, uid: number, gid: number): Promise<string> {
  const stage = stagePath(dest, randomBytes(6).toString('hex'));
  // O_EXCL never reuses an existing path, O_NOFOLLOW never follows a link; the mode is never wider than the final one.
  const fh = await open(stage, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode & 0o777);
  liveStages.add(stage);
  try {
    if (uid !== process.getuid?.() || gid !== process.getgid?.()) await fh.chown(uid, gid);
    await fh.chmod(mode); // after chown, which clears set-id bits; and the umask may have narrowed it
    await fh.writeFile(content);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await removeStage(stage);
    throw err;
  }
  await fh.close();
  return stage;
}

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** rename(stage, dest); when dest is a mount point (EBUSY) or on another device, copy instead. */
async function swapIn(stage: string, dest: string, owner: { mode: number; uid: number; gid: number }): Promise<void> {
  try {
    await rename(stage, dest);
    liveStages.delete(stage);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EBUSY' && code !== 'EXDEV') throw err;
    await copyFile(stage, dest);
    const fh = await open(dest, 'r+');
    try {
      // copyFile keeps the existing inode's mode and owner; the configured ones must win.
      if (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.()) await fh.chown(owner.uid, owner.gid);
      await fh.chmod(owner.mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await removeStage(stage);
  }
  await syncDir(dirname(dest));
}

/** What this pass wrote to dest: its bytes and the inode they landed in. */
interface Written {
  content: Buffer;
  ino: number;
}

/** Whether dest is still exactly what we wrote: same inode and same bytes (a rename or an edit by anyone else changes one). */
async function stillOurs(dest: string, written: Written): Promise<boolean> {
  try {
    const [st, content] = await Promise.all([stat(dest), readFile(dest)]);
    return st.ino === written.ino && content.equals(written.content);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Restore `previous` unless someone else wrote dest after us; false when dest was left to them. */
async function restoreIfOurs(dest: string, previous: FileState | undefined, written: Written): Promise<boolean> {
  if (!(await stillOurs(dest, written))) return false;
  await restore(dest, previous);
  return true;
}

async function restore(dest: string, previous: FileState | undefined): Promise<void> {
  if (!previous) {
    await unlink(dest).catch(() => {});
    await syncDir(dirname(dest));
    return;
  }
  const stage = await writeStage(dest, previous.content, previous.mode, previous.uid, previous.gid);
  try {
    await swapIn(stage, dest, previous);
  } catch (err) {
    await removeStage(stage);
    throw err;
  }
}

export const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The last lines a failed command printed, for its error message. */
export function commandOutput(r: CommandResult): string {
  const out = [r.stdout.trim(), r.stderr.trim()].filter(Boolean).join('\n');
  return out ? `\n${out.split('\n').slice(-20).join('\n')}` : '';
}

/** A command of the resource that may not run in this mode: refused before anything is staged or run. */
function refusedCommand(r: ResourceConfig, mode: CommandMode): ResourceError | undefined {
  for (const [field, command] of [['check_cmd', r.checkCmd], ['reload_cmd', r.reloadCmd]] as const) {
    const why = command === undefined ? undefined : commandRefusal(command, mode);
    if (why) return new ResourceError('RESOURCE_NOT_ALLOWED', `${r.name}: ${field} ${JSON.stringify(command)} ${why}; ${r.dest} left as it was`);
  }
  return undefined;
}

/** Stage, compare, check and swap one rendered resource. The reload is left to the caller. */
export async function stageAndSwap(resource: ResourceConfig, rendered: string, opts: SwapOptions = {}): Promise<SwapResult> {
  const { dest } = resource;
  const next = Buffer.from(rendered);
  const base = { resource: resource.name, dest, commands: [] as CommandResult[], checked: false, rollback: async () => true };
  let previous: FileState | undefined;
  let target: string;
  try {
    target = writeTarget(resource.name, dest, opts.policy);
    previous = await readState(target, resource.name);
  } catch (err) {
    if (err instanceof ResourceError) return { ...base, changed: false, diff: '', error: err };
    return { ...base, changed: false, diff: '', error: new ResourceError('RESOURCE_WRITE_FAILED', `${resource.name}: cannot read ${dest} (${errorMessage(err)})`, { cause: err }) };
  }
  const changed =
    !previous || !previous.content.equals(next) || previous.mode !== resource.mode || previous.uid !== resource.uid || previous.gid !== resource.gid;
  if (!changed) return { ...base, changed: false, diff: '' };
  const diff = opts.noop || opts.diff ? createTwoFilesPatch(dest, dest, previous?.content.toString() ?? '', rendered, '', '', { context: 3 }) : '';
  if (opts.noop) return { ...base, changed: true, diff };
  if (previous) Object.assign(base, { previous: previous.content.toString() });
  const refused = opts.syncOnly ? undefined : refusedCommand(resource, opts.commandMode ?? 'shell');
  if (refused) return { ...base, changed: true, diff, error: refused };

  let stage: string;
  try {
    stage = await writeStage(target, next, resource.mode, resource.uid, resource.gid);
  } catch (err) {
    return { ...base, changed: true, diff, error: new ResourceError('RESOURCE_WRITE_FAILED', `${resource.name}: cannot stage ${dest} (${errorMessage(err)})`, { cause: err }) };
  }
  const dropStage = () => {
    if (!opts.keepStageFile) return removeStage(stage);
    liveStages.delete(stage);
    return Promise.resolve();
  };
  const commands: CommandResult[] = [];
  let checked = false;
  const check = resource.checkCmd && !opts.syncOnly ? invocation(resource.checkCmd, opts.commandMode ?? 'shell', stage) : undefined;
  // A check that cannot be read as words was refused above, before anything was staged.
  if (check && 'command' in check) {
    const r = await runCommand(check.command, {
      ...(check.argv ? { argv: check.argv } : {}),
      timeoutMs: resource.commandTimeoutMs ?? opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    commands.push(r);
    if (!r.ok) {
      await dropStage();
      return {
        ...base,
        changed: true,
        diff,
        commands,
        error: new ResourceError('RESOURCE_CHECK_FAILED', `${resource.name}: check_cmd ${describeFailure(r)}; ${dest} left as it was${commandOutput(r)}`),
      };
    }
    checked = true;
  }
  try {
    // check_cmd may have taken seconds: the place is checked once more right before the rename.
    if (writeTarget(resource.name, dest, opts.policy) !== target) throw new ResourceError('RESOURCE_NOT_ALLOWED', `${resource.name}: ${dest} now leads elsewhere than when it was staged`);
    await swapIn(stage, target, resource);
  } catch (err) {
    await dropStage();
    return {
      ...base,
      changed: true,
      checked,
      diff,
      commands,
      error: err instanceof ResourceError ? err : new ResourceError('RESOURCE_WRITE_FAILED', `${resource.name}: cannot replace ${dest} (${errorMessage(err)}); it is left as it was`, { cause: err }),
    };
  }
  let written: Written;
  try {
    written = { content: next, ino: (await stat(target)).ino };
  } catch {
    // dest vanished right after the swap: someone else owns it now, a rollback must not touch it.
    written = { content: next, ino: -1 };
  }
  return { ...base, changed: true, checked, diff, commands, rollback: () => restoreIfOurs(target, previous, written) };
}
