/** A partition's offsets from `fromOffset` to `toOffset`, both included. */
export interface OffsetRange {
  readonly partition: number;
  readonly fromOffset: number;
  readonly toOffset: number;
}

/** A record of the event log, as stored: its bytes are copied unchanged by a replay. */
export interface EventLogRecord {
  readonly partition: number;
  readonly offset: number;
  /** Milliseconds since the epoch (Kafka's CREATE_TIME). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer>>;
}

/** A record to write: partitioned by its key, as the producer does. */
export interface EventLogMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer>>;
}

/**
 * Reads a topic by offsets and by time: kafkajs on MSK (`KafkaEventLog`), the durable local log on this
 * machine (`LocalEventLog`).
 */
export interface EventLogReader {
  /** How many partitions the topic has. */
  partitions(topic: string): Promise<number>;
  /** Per partition (index = partition): the next offset to be written. */
  endOffsets(topic: string): Promise<number[]>;
  /**
   * Per partition: the first offset whose timestamp is at or after `timestamp`, or the end offset when
   * there is none (Kafka's ListOffsets by timestamp).
   */
  offsetsForTimestamp(topic: string, timestamp: number): Promise<number[]>;
  /** Reads a range in offset order, handing over chunks as they arrive; ends at the range's end. */
  read(
    topic: string,
    range: OffsetRange,
    onChunk: (records: readonly EventLogRecord[]) => Promise<void>,
  ): Promise<void>;
}

/** Appends records to a topic. */
export interface EventLogWriter {
  write(topic: string, messages: readonly EventLogMessage[]): Promise<void>;
}
