import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pidAlive, sleep } from '@confd-haproxy/base';
import { KVError } from '../errors.js';

/** Replace `file` with `text`: temp file in the same directory, fsync, rename, fsync the directory. */
export async function atomicWrite(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}



/**
 * Run `fn` while holding `<file>.lock`, created exclusively and holding our PID. A lock left by
 * a dead process (SIGKILL mid-write) is broken; a live holder is waited for, up to timeoutMs.
 */
export async function withFileMutex<T>(file: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + timeoutMs;
  const token = `${process.pid} ${randomBytes(6).toString('hex')}`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(lock, 'wx', 0o644);
      await fh.writeFile(token);
      await fh.close();
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw new KVError('KV_UNREACHABLE', `${lock}: cannot create the store's lock file (${(err as Error).message})`, { cause: err });
      }
    }
    const holder = await readFile(lock, 'utf8').catch(() => '');
    const pid = Number(holder.split(' ')[0]);
    if (holder && Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) {
      // Only break the exact lock we judged stale.
      if ((await readFile(lock, 'utf8').catch(() => '')) === holder) await unlink(lock).catch(() => {});
      continue;
    }
    if (Date.now() >= deadline) {
      throw new KVError('KV_UNREACHABLE', `${file}: the store is locked by ${holder ? `PID ${pid}` : 'another process'} for more than ${timeoutMs} ms (${lock})`);
    }
    await sleep(Math.min(2 + attempt, 25));
  }
  try {
    return await fn();
  } finally {
    if ((await readFile(lock, 'utf8').catch(() => '')) === token) await unlink(lock).catch(() => {});
  }
}
