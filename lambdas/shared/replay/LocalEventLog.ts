import type {
  EventLogMessage,
  EventLogReader,
  EventLogRecord,
  EventLogWriter,
  OffsetRange,
} from './eventLog.js';

/** A record as the local log returns it (the partition is the one asked for). */
type StoredRecord = Omit<EventLogRecord, 'partition'>;

/** The part of the durable local log (`local/log/LocalLog`) the replay uses. */
export interface PartitionedLog {
  partitionsOf(topic: string): Promise<number>;
  endOffset(topic: string, partition: number): Promise<number>;
  seekByTimestamp(topic: string, partition: number, timestamp: number): Promise<number>;
  read(topic: string, partition: number, fromOffset: number, maxRecords: number): Promise<StoredRecord[]>;
  append(
    topic: string,
    messages: ReadonlyArray<{
      readonly key?: Buffer | null;
      readonly value: Buffer | null;
      readonly headers?: Readonly<Record<string, Buffer>>;
    }>,
  ): Promise<unknown>;
}

/** Records read per request of the local log. */
export const LOCAL_READ_CHUNK = 1_000;

/** The event log on this machine: the durable local log that plays MSK. */
export class LocalEventLog implements EventLogReader, EventLogWriter {
  public constructor(
    private readonly log: PartitionedLog,
    private readonly chunk = LOCAL_READ_CHUNK,
  ) {}

  public partitions(topic: string): Promise<number> {
    return this.log.partitionsOf(topic);
  }

  public async endOffsets(topic: string): Promise<number[]> {
    const count = await this.log.partitionsOf(topic);
    return Promise.all(Array.from({ length: count }, (_, p) => this.log.endOffset(topic, p)));
  }

  public async offsetsForTimestamp(topic: string, timestamp: number): Promise<number[]> {
    const count = await this.log.partitionsOf(topic);
    return Promise.all(
      Array.from({ length: count }, (_, p) => this.log.seekByTimestamp(topic, p, timestamp)),
    );
  }

  public async read(
    topic: string,
    range: OffsetRange,
    onChunk: (records: readonly EventLogRecord[]) => Promise<void>,
  ): Promise<void> {
    const end = Math.min(range.toOffset + 1, await this.log.endOffset(topic, range.partition));
    for (let offset = range.fromOffset; offset < end; ) {
      const records = await this.log.read(topic, range.partition, offset, Math.min(this.chunk, end - offset));
      if (records.length === 0) return;
      await onChunk(records.map((r) => ({ ...r, partition: range.partition })));
      offset += records.length;
    }
  }

  public async write(topic: string, messages: readonly EventLogMessage[]): Promise<void> {
    await this.log.append(topic, messages);
  }
}
