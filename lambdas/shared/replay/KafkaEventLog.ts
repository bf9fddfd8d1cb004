import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, ConsumerConfig, IHeaders } from 'kafkajs';
import type { KafkaPublisher } from '../kafka/KafkaPublisher.js';
import type {
  EventLogMessage,
  EventLogReader,
  EventLogRecord,
  EventLogWriter,
  OffsetRange,
} from './eventLog.js';

/** The parts of a kafkajs client the reads use; `new Kafka(...)` fits, tests pass fakes. */
export interface KafkaReplayClient {
  admin(): Pick<Admin, 'connect' | 'disconnect' | 'fetchTopicOffsets' | 'fetchTopicOffsetsByTimestamp'>;
  consumer(
    config: ConsumerConfig,
  ): Pick<Consumer, 'connect' | 'disconnect' | 'subscribe' | 'run' | 'seek' | 'pause' | 'stop'>;
}

/** The part of {@link KafkaPublisher} the writer uses. */
export type RecordPublisher = Pick<KafkaPublisher, 'publishRecords' | 'close'>;

export interface KafkaEventLogOptions {
  /** Builds the kafkajs client of the reads on first use (broker discovery, IAM auth). */
  readonly connect: () => Promise<KafkaReplayClient>;
  /** Writes the copies: an idempotent producer, `acks: -1`, errors classified (`KafkaPublisher`). */
  readonly publisher: RecordPublisher;
  readonly groupPrefix?: string;
}

/**
 * Each read uses a consumer group of its own, `<prefix>-<uuid>`, and commits nothing: concurrent reads
 * (one per shard) must not share partitions through a rebalance. The function's IAM policy must allow
 * groups of that prefix.
 */
export const DEFAULT_REPLAY_GROUP_PREFIX = 'cdp-reconciliation';

/**
 * How long a broker holds a read's fetch for partitions with nothing new. kafkajs waits 5 s by default, and
 * on a multi-broker cluster a fetch round waits for the brokers that lead only paused or drained partitions:
 * with the default, each range read took about 5 s on a 3-broker cluster (measured locally), 250 ms with this.
 */
export const READ_FETCH_WAIT_MILLIS = 250;

const headersOf = (headers: IHeaders | undefined): Record<string, Buffer> => {
  const out: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
};

const byPartition = (entries: ReadonlyArray<{ partition: number; offset: string }>): number[] => {
  const offsets: number[] = [];
  for (const e of entries) offsets[e.partition] = Number(e.offset);
  return offsets;
};

/**
 * The events topic on MSK through kafkajs: offsets by time with the admin client (ListOffsets), ranges
 * read by a consumer of a throw-away group that seeks to the range's start, copies written by a
 * `KafkaPublisher` (idempotent producer, `acks: -1`). The read client is built on first use.
 */
export class KafkaEventLog implements EventLogReader, EventLogWriter {
  public readonly groupPrefix: string;
  private client: Promise<KafkaReplayClient> | undefined;

  public constructor(private readonly options: KafkaEventLogOptions) {
    this.groupPrefix = options.groupPrefix ?? DEFAULT_REPLAY_GROUP_PREFIX;
  }

  public async partitions(topic: string): Promise<number> {
    return (await this.endOffsets(topic)).length;
  }

  public endOffsets(topic: string): Promise<number[]> {
    return this.withAdmin(async (admin) =>
      byPartition(
        (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.high })),
      ),
    );
  }

  public offsetsForTimestamp(topic: string, timestamp: number): Promise<number[]> {
    return this.withAdmin(async (admin) =>
      byPartition(await admin.fetchTopicOffsetsByTimestamp(topic, timestamp)),
    );
  }

  /**
   * Reads the range with a consumer of its own group. kafkajs can only seek once the group has joined, so
   * the seek (and the pause of the other partitions) happens at the first batch; batches fetched before
   * it takes effect arrive too, and a batch may be fetched again after a seek: only offsets from the next
   * one wanted up to the range's end are handed over, each once. The next fetch starts at the last
   * resolved offset, so every processed batch is resolved.
   *
   * The group starts at the earliest offset: every fetch then continues an unbroken run of offsets from
   * at or below the next one wanted, so a batch that reaches the range's end means the range was read
   * whole, even where offsets are missing (compaction, transaction markers).
   */
  public async read(
    topic: string,
    range: OffsetRange,
    onChunk: (records: readonly EventLogRecord[]) => Promise<void>,
  ): Promise<void> {
    const ends = await this.endOffsets(topic);
    const end = Math.min(range.toOffset, (ends[range.partition] ?? 0) - 1);
    if (end < range.fromOffset) return;
    const consumer = (await this.kafka()).consumer({
      groupId: `${this.groupPrefix}-${randomUUID()}`,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: READ_FETCH_WAIT_MILLIS,
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        let next = range.fromOffset;
        let settled = false;
        let positioned = false;
        const settle = (error?: unknown) => {
          if (settled) return;
          settled = true;
          if (error === undefined) resolve();
          else reject(error);
        };
        consumer
          .run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
              if (settled) return;
              try {
                if (!positioned) {
                  // The group exists once a batch arrives (a group still joining, or rejoining after a
                  // retriable error, refuses seek and pause): only the range's partition is fetched from
                  // now on, from the range's start.
                  positioned = true;
                  const others = ends.map((_, p) => p).filter((p) => p !== range.partition);
                  if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
                  consumer.seek({ topic, partition: range.partition, offset: String(next) });
                  return;
                }
                if (batch.topic !== topic || batch.partition !== range.partition) return;
                const records: EventLogRecord[] = batch.messages
                  .filter((m) => Number(m.offset) >= next && Number(m.offset) <= end)
                  .map((m) => ({
                    partition: batch.partition,
                    offset: Number(m.offset),
                    timestamp: Number(m.timestamp),
                    key: m.key,
                    value: m.value,
                    headers: headersOf(m.headers),
                  }));
                const last = records.at(-1);
                if (last !== undefined) {
                  await onChunk(records);
                  next = last.offset + 1;
                }
                const fetched = batch.messages.at(-1);
                if (fetched !== undefined) resolveOffset(fetched.offset);
                await heartbeat();
                if (next > end || Number(batch.lastOffset()) >= end) settle();
              } catch (error: unknown) {
                settle(error);
              }
            },
          })
          .catch(settle);
      });
    } finally {
      await consumer.stop();
      await consumer.disconnect();
    }
  }

  /**
   * Appends the copies in one send acknowledged by all in-sync replicas.
   * @throws {PublishError} classified retriable or not by `classifyKafkaError`.
   */
  public async write(topic: string, messages: readonly EventLogMessage[]): Promise<void> {
    await this.options.publisher.publishRecords(topic, messages);
  }

  public async close(): Promise<void> {
    await this.options.publisher.close();
  }

  private kafka(): Promise<KafkaReplayClient> {
    this.client ??= this.options.connect().catch((error: unknown) => {
      this.client = undefined;
      throw error;
    });
    return this.client;
  }

  private async withAdmin<T>(
    work: (admin: ReturnType<KafkaReplayClient['admin']>) => Promise<T>,
  ): Promise<T> {
    const admin = (await this.kafka()).admin();
    await admin.connect();
    try {
      return await work(admin);
    } finally {
      await admin.disconnect();
    }
  }
}
