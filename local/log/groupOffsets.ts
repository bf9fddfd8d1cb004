import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorCode, writeFileAtomic } from './durableFiles.js';
import { CorruptLogError, InvalidLogRequestError } from './errors.js';

/**
 * Where a group's offset for a partition lives. Group names are free text, so they are URL-encoded; the
 * `g-` prefix rules out `.` and `..`, which encodeURIComponent keeps.
 * @throws {InvalidLogRequestError} for an empty group name.
 */
export function offsetPathOf(dir: string, group: string, topic: string, partition: number): string {
  if (group.length === 0) throw new InvalidLogRequestError('A consumer group needs a name', { group });
  return join(dir, 'groups', `g-${encodeURIComponent(group)}`, topic, `${partition}.offset`);
}

/**
 * The committed next offset in `path`, or 0 (the earliest) when the group never committed.
 * @throws {CorruptLogError} when the file is not an offset record.
 */
export async function readCommittedOffset(path: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error: unknown) {
    if (errorCode(error) === 'ENOENT') return 0;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error: unknown) {
    throw new CorruptLogError('Committed offset is not valid JSON', path, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || !('offset' in parsed)) {
    throw new CorruptLogError('Committed offset file has an unexpected shape', path);
  }
  const offset = Number(parsed.offset);
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new CorruptLogError('Committed offset is not a non-negative integer', path);
  }
  return offset;
}

export interface CommittedOffset {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** Replaces the offset file atomically: a crash leaves the previous or the new offset, never a torn one. */
export async function writeCommittedOffset(
  path: string,
  committed: CommittedOffset,
  fsync: boolean,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const contents = { ...committed, committedAt: new Date().toISOString() };
  await writeFileAtomic(path, `${JSON.stringify(contents)}\n`, fsync);
}
