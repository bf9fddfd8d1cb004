import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

let temporaryCounter = 0;

/**
 * Replaces `path` with `contents` so that a reader (or a crash) sees either the old or the new file, never a
 * mix: write a temporary sibling, fsync it, rename it over the target, fsync the directory.
 */
export async function writeFileAtomic(path: string, contents: string, fsync: boolean): Promise<void> {
  temporaryCounter += 1;
  const temporary = `${path}.${process.pid}.${temporaryCounter}.tmp`;
  try {
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(contents, 'utf8');
      if (fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error: unknown) {
    await rm(temporary, { force: true });
    throw error;
  }
  if (fsync) await syncDirectory(dirname(path));
}

/** Makes a rename or a file creation in `directory` durable. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether a process with this id is alive (EPERM means it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: unknown) {
    return errorCode(error) === 'EPERM';
  }
}

/** The `code` of a Node.js system error, if there is one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
