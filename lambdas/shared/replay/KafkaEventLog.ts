import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, ConsumerConfig, IHeaders, Producer, ProducerConfig } from 'kafkajs';
import type {
  EventLogMessage,
  EventLogReader,
  EventLogRecord,
  EventLogWriter,
  OffsetRange,
} from './eventLog.js';

/** The parts of a kafkajs client the replay uses; `new Kafka(...)` fits, tests pass fakes. */
export interface KafkaReplayClient {
  admin(): Pick<Admin, 'connect' | 'disconnect' | 'fetchTopicOffsets' | 'fetchTopicOffsetsByTimestamp'>;
  consumer(
    config: ConsumerConfig,
  ): Pick<Consumer, 'connect' | 'disconnect' | 'subscribe' | 'run' | 'seek' | 'pause' | 'stop'>;
  producer(config?: ProducerConfig): Pick<Producer, 'connect' | 'disconnect' | 'send'>;
}

/**
 * Each read uses a consumer group of its own, `<prefix>-<uuid>`, and commits nothing: concurrent reads
 * (one per shard) must not share partitions through a rebalance. The function's IAM policy must allow
 * groups of that prefix.
 */
export const DEFAULT_REPLAY_GROUP_PREFIX = 'cdp-reconciliation';

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
 * read by a consumer of a throw-away group that seeks to the range's start, copies written by an
 * idempotent producer with `acks: -1`. The client is built on first use (broker discovery, IAM auth).
 */
export class KafkaEventLog implements EventLogReader, EventLogWriter {
  private client: Promise<KafkaReplayClient> | undefined;
  private producer: Promise<ReturnType<KafkaReplayClient['producer']>> | undefined;

  public constructor(
    private readonly connect: () => Promise<KafkaReplayClient>,
    private readonly groupPrefix = DEFAULT_REPLAY_GROUP_PREFIX,
  ) {}

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
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            eachBatch: async ({ batch }) => {
              if (batch.partition !== range.partition) return;
              try {
                const records: EventLogRecord[] = batch.messages
                  .filter((m) => Number(m.offset) >= range.fromOffset && Number(m.offset) <= end)
                  .map((m) => ({
                    partition: batch.partition,
                    offset: Number(m.offset),
                    timestamp: Number(m.timestamp),
                    key: m.key,
                    value: m.value,
                    headers: headersOf(m.headers),
                  }));
                if (records.length > 0) await onChunk(records);
                if (Number(batch.lastOffset()) >= end) resolve();
              } catch (error: unknown) {
                reject(error);
              }
            },
          })
          .then(() => {
            consumer.seek({ topic, partition: range.partition, offset: String(range.fromOffset) });
            // Only the range's partition is fetched; the group's other assignments stay paused.
            const partitions = ends.map((_, p) => p).filter((p) => p !== range.partition);
            if (partitions.length > 0) consumer.pause([{ topic, partitions }]);
          }, reject);
      });
    } finally {
      await consumer.stop();
      await consumer.disconnect();
    }
  }

  public async write(topic: string, messages: readonly EventLogMessage[]): Promise<void> {
    this.producer ??= (async () => {
      const producer = (await this.kafka()).producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      return producer;
    })().catch((error: unknown) => {
      this.producer = undefined;
      throw error;
    });
    const producer = await this.producer;
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers } })),
    });
  }

  public async close(): Promise<void> {
    const producer = await this.producer?.catch(() => undefined);
    this.producer = undefined;
    await producer?.disconnect();
  }

  private kafka(): Promise<KafkaReplayClient> {
    this.client ??= this.connect().catch((error: unknown) => {
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
