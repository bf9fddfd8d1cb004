import { readFile, stat } from 'node:fs/promises';
import { tailLines } from './errors.js';

/** Size of a server's log file in bytes, 0 when it does not exist yet. */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** A log file's text from byte `offset` on ('' when it cannot be read): what a server wrote since then. */
export async function readFrom(path: string, offset: number): Promise<string> {
  try {
    return (await readFile(path)).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

/** The last `lines` lines of a server's log file ('' when it cannot be read). */
export async function logTail(path: string, lines: number): Promise<string> {
  return tailLines(await readFrom(path, 0), lines);
}

/** Resolves true when `promise` settles within `ms`, false otherwise; never leaves a timer behind. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
