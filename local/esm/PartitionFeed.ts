import type { LogRecord } from '../log/index.js';

/**
 * One partition as a {@link PartitionWorker} sees it: the group's committed offset, how far records are
 * available, reads and commits. The local log gives the whole partition; a Kafka consumer gives the records
 * of the batch it fetched.
 */
export interface PartitionFeed {
  /** The next offset to deliver: the group's committed offset. */
  committed(): Promise<number>;
  /** One past the last record available to deliver now. */
  endOffset(): Promise<number>;
  /** `count` consecutive records from `from` (all available: callers stay below {@link endOffset}). */
  read(from: number, count: number): Promise<readonly LogRecord[]>;
  /** Moves the group's committed offset to `nextOffset` (the next record to deliver). */
  commit(nextOffset: number): Promise<void>;
}

/** Stores a failure record (JSON) on the destination topic, keyed `<topic>-<partition>`. */
export type DestinationTopicWriter = (topic: string, key: string, value: string) => Promise<void>;
