import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode, writeFileAtomic } from './durableFiles.js';
import { CorruptLogError } from './errors.js';

export interface TopicMetadata {
  readonly name: string;
  readonly partitions: number;
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Kafka's rule for topic names (which also makes them safe directory names). */
export const isValidTopicName = (name: string): boolean =>
  TOPIC_NAME.test(name) && name !== '.' && name !== '..';

/**
 * The metadata in a topic directory, or undefined when the topic was never created there.
 * @throws {CorruptLogError} when the metadata file is damaged.
 */
export async function readTopicMetadata(topicDir: string, name: string): Promise<TopicMetadata | undefined> {
  const path = join(topicDir, 'topic.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error: unknown) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error: unknown) {
    throw new CorruptLogError('Topic metadata is not valid JSON', path, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || !('partitions' in parsed)) {
    throw new CorruptLogError('Topic metadata has an unexpected shape', path);
  }
  const partitions = Number(parsed.partitions);
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new CorruptLogError('Topic metadata has an invalid partition count', path);
  }
  return { name, partitions };
}

/** Replaces the metadata atomically, so a reader sees the old or the new partition count. */
export async function writeTopicMetadata(
  topicDir: string,
  metadata: TopicMetadata,
  fsync: boolean,
): Promise<void> {
  await writeFileAtomic(join(topicDir, 'topic.json'), `${JSON.stringify(metadata)}\n`, fsync);
}
