import { Logger } from '@aws-lambda-powertools/logger';
import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import type { DeadLetterSink } from '../../lambdas/shared/consumer/deadLetters.js';
import { KafkaRecordParker } from '../../lambdas/shared/consumer/KafkaRecordParker.js';
import type { RecordParker } from '../../lambdas/shared/consumer/parking.js';
import { KafkaPublisher } from '../../lambdas/shared/kafka/KafkaPublisher.js';
import { KafkaEventLog } from '../../lambdas/shared/replay/KafkaEventLog.js';
import { deadLetterMessage } from '../consumer/LocalLogDeadLetterSink.js';
import { type EventSourceOptions, KafkaEventSource, kafkaGroupLag } from '../esm/index.js';
import type { AppendMessage, AppendResult } from '../log/index.js';
import { createKafkaPartitioner } from '../log/partitioner.js';
import type { LocalEventSource, LocalStream } from './LocalStream.js';

const { Kafka: KafkaClient, logLevel } = kafkajs;

/** Options of {@link KafkaStream}. */
export interface KafkaStreamOptions {
  /** Bootstrap addresses of the cluster (PLAINTEXT, loopback). */
  readonly brokers: readonly string[];
  /** Prefix of the client ids this stream's clients use. */
  readonly clientId?: string;
  /** Consumer-group session timeout of the event sources (default 10 s). */
  readonly sessionTimeoutMillis?: number;
}

/**
 * A real Kafka cluster as the platform's topics: event sources are kafkajs consumer-group members
 * ({@link KafkaEventSource}), every producer is the platform's {@link KafkaPublisher} (idempotent,
 * `acks=all`, gzip) over PLAINTEXT, replay reads with {@link KafkaEventLog}.
 */
export class KafkaStream implements LocalStream {
  public readonly kind = 'kafka';
  private readonly kafka: Kafka;
  private readonly clientId: string;
  private readonly publishers = new Set<KafkaPublisher>();
  private admin: Promise<Admin> | undefined;
  private appender: Promise<Producer> | undefined;
  private readonly partitioner = createKafkaPartitioner();
  /** kafkajs' own log lines (reconnects, coordinator loading) at `CDP_LOG_LEVEL`, silent by default. */
  private readonly kafkaLogger = new Logger({
    serviceName: 'kafka',
    logLevel: (process.env.CDP_LOG_LEVEL as 'WARN' | undefined) ?? 'SILENT',
  });

  public constructor(private readonly options: KafkaStreamOptions) {
    this.clientId = options.clientId ?? 'cdp-local';
    this.kafka = new KafkaClient({
      clientId: this.clientId,
      brokers: [...options.brokers],
      connectionTimeout: 3_000,
      // A consumer's request stuck on a hung broker holds its batch: fail it quickly and fetch again.
      requestTimeout: 10_000,
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
  }

  public describe(): string {
    return `Kafka cluster ${this.options.brokers.join(',')}`;
  }

  public async createTopic(topic: string, partitions: number): Promise<void> {
    const admin = await this.connectedAdmin();
    const current = (await admin.listTopics()).includes(topic)
      ? (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length
      : undefined;
    if (current === undefined) {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
    } else if (current < partitions) {
      await admin.createPartitions({ topicPartitions: [{ topic, count: partitions }] });
    }
  }

  public async partitionsOf(topic: string): Promise<number> {
    const metadata = await (await this.connectedAdmin()).fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]?.partitions.length ?? 0;
  }

  public async endOffsets(topic: string): Promise<number[]> {
    const offsets = await (await this.connectedAdmin()).fetchTopicOffsets(topic);
    const ends: number[] = [];
    for (const { partition, high } of offsets) ends[partition] = Number(high);
    return ends;
  }

  public async committedOffsets(group: string, topic: string): Promise<number[]> {
    const admin = await this.connectedAdmin();
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const offsets = Array.from({ length: await this.partitionsOf(topic) }, () => 0);
    for (const { partition, offset } of committed?.partitions ?? [])
      offsets[partition] = Math.max(0, Number(offset));
    return offsets;
  }

  public async commitOffset(group: string, topic: string, partition: number, offset: number): Promise<void> {
    const admin = await this.connectedAdmin();
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition, offset: String(offset) }] });
  }

  public async lag(group: string, topic: string): Promise<Record<number, number>> {
    return kafkaGroupLag(await this.connectedAdmin(), group, topic);
  }

  /**
   * Appends as a plain producer would, honouring each message's partition and timestamp; a message without
   * one goes where Kafka's default partitioner puts its key. One send: each partition's messages land
   * consecutively from the offset the broker reports for it.
   */
  public async append(topic: string, messages: readonly AppendMessage[]): Promise<AppendResult[]> {
    this.appender ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      return producer;
    })().catch((error: unknown) => {
      this.appender = undefined;
      throw error;
    });
    const partitions = await this.partitionsOf(topic);
    const placed = messages.map((message) => ({
      message,
      partition: message.partition ?? this.partitioner(topic, partitions, toBuffer(message.key ?? null)),
    }));
    const metadata = await (await this.appender).send({
      topic,
      acks: -1,
      messages: placed.map(({ message, partition }) => ({
        key: message.key ?? null,
        value: message.value,
        partition,
        ...(message.timestamp === undefined ? {} : { timestamp: String(message.timestamp) }),
        ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
      })),
    });
    const next = new Map(metadata.map((m) => [m.partition, Number(m.baseOffset ?? 0)]));
    return placed.map(({ partition }) => {
      const offset = next.get(partition) ?? 0;
      next.set(partition, offset + 1);
      return { partition, offset };
    });
  }

  public eventSource(options: EventSourceOptions): LocalEventSource {
    return new KafkaEventSource({
      ...options,
      kafka: this.kafka,
      brokers: this.options.brokers,
      ...(this.options.sessionTimeoutMillis === undefined
        ? {}
        : { sessionTimeoutMillis: this.options.sessionTimeoutMillis }),
    });
  }

  public deadLetterSink(topic: string): DeadLetterSink {
    const publisher = this.ownPublisher('dead-letters');
    return { send: (letters) => publisher.publishRecords(topic, letters.map(deadLetterMessage)) };
  }

  public recordParker(topic: string): RecordParker {
    return new KafkaRecordParker(this.ownPublisher('parker'), topic);
  }

  /** A new {@link KafkaPublisher}; the caller closes it. */
  public publisher(clientId: string): KafkaPublisher {
    return new KafkaPublisher({ brokers: this.options.brokers, clientId, logger: this.kafkaLogger });
  }

  public eventLog(): KafkaEventLog {
    return new KafkaEventLog({
      connect: async () => this.kafka,
      publisher: this.ownPublisher('replay'),
    });
  }

  public async close(): Promise<void> {
    await Promise.all([...this.publishers].map((publisher) => publisher.close()));
    this.publishers.clear();
    const appender = this.appender;
    this.appender = undefined;
    await (await appender?.catch(() => undefined))?.disconnect();
    const admin = this.admin;
    this.admin = undefined;
    await (await admin?.catch(() => undefined))?.disconnect();
  }

  private ownPublisher(purpose: string): KafkaPublisher {
    const publisher = this.publisher(`${this.clientId}-${purpose}`);
    this.publishers.add(publisher);
    return publisher;
  }

  private connectedAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })().catch((error: unknown) => {
      this.admin = undefined;
      throw error;
    });
    return this.admin;
  }
}

const toBuffer = (key: string | Buffer | null): Buffer | null =>
  key === null ? null : Buffer.isBuffer(key) ? key : Buffer.from(key);
