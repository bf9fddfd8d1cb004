import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type WiredConsumer, wireConsumer } from '../../lambdas/consumer/dependencies.js';
import type { ConsumerSettings } from '../../lambdas/shared/consumer/CustomerEventConsumer.js';
import type { ShardMap } from '../../lambdas/shared/sharding/index.js';
import type { SqlClient } from '../../lambdas/shared/sql/index.js';
import type { EventSourceStats, MskHandler } from '../esm/index.js';
import { LocalLog } from '../log/index.js';
import { type LocalEventSource, LocalLogStream, type LocalStream } from '../stream/index.js';

export const LOCAL_TOPIC = 'customer-events.v1';
export const LOCAL_DLQ_TOPIC = 'customer-events.v1.dlq';
/**
 * Records re-delivered to the consumer by a second mapping: a shard's records parked while its breaker is
 * open, and replays. Consumers are idempotent and the merge is order-independent, so any order is safe.
 */
export const LOCAL_RETRY_TOPIC = 'customer-events.v1.retry';
export const LOCAL_GROUP = 'cdp-consumer';
/** The retry topic's mapping has a consumer group of its own, as in AWS. */
export const LOCAL_RETRY_GROUP = `${LOCAL_GROUP}-retry`;
/** Partitions of the retry topic when the events topic does not exist yet. */
const LOCAL_RETRY_PARTITIONS = 12;

export interface LocalMapping {
  readonly batchSize: number;
  readonly batchWindowMillis: number;
  readonly retryAttempts: number;
  readonly maxRecordAgeSeconds: number;
  readonly bisectBatchOnError: boolean;
  readonly reportBatchItemFailures: boolean;
  readonly functionTimeoutMillis: number;
}

/** The event-source mapping as configured for the consumer in AWS (see lib/config), for local runs. */
export const LOCAL_MAPPING: LocalMapping = {
  batchSize: 500,
  batchWindowMillis: 50,
  retryAttempts: 10,
  maxRecordAgeSeconds: -1,
  bisectBatchOnError: true,
  reportBatchItemFailures: true,
  functionTimeoutMillis: 60_000,
};

export interface LocalConsumerOptions {
  /** Where the topics live: the local log (given as is, or as a stream) or a Kafka cluster. */
  readonly stream: LocalStream | LocalLog;
  readonly shardMap: ShardMap;
  readonly redisUrl?: string | undefined;
  /** Live shard clients owned by the caller (e.g. a `ShardDirectory` that follows failovers). */
  readonly shards?: ReadonlyMap<string, SqlClient> | undefined;
  /** Partitions consumed in parallel (the pollers of the mapping). */
  readonly concurrency?: number;
  readonly mapping?: Partial<LocalMapping>;
  readonly settings?: Partial<ConsumerSettings>;
  readonly onProgress?: (stats: EventSourceStats) => void;
  readonly progressIntervalMillis?: number;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Park records of a shard whose breaker is open on the retry topic (as in AWS); default true. */
  readonly parking?: boolean;
  /**
   * Puts something between the mappings and the handler, as an alias does between a mapping and the
   * function versions (the bad-deployment drill routes a share of invocations to another version).
   */
  readonly route?: (handler: MskHandler) => MskHandler;
}

/**
 * The consumer Lambda as it runs in AWS, on this machine: the same handler code, fed by the MSK event
 * source (the emulator over the durable local log, or a consumer group on a real Kafka cluster), writing to
 * the local shards and Redis, dead letters to the DLQ topic. Two mappings invoke it, as in AWS: one on the
 * events topic (`emulator`) and one on the retry topic (`retryEmulator`), each with its consumer group.
 */
export class LocalConsumer {
  private constructor(
    public readonly emulator: LocalEventSource,
    public readonly retryEmulator: LocalEventSource,
    private readonly wired: WiredConsumer,
    private readonly stream: LocalStream,
    /** True when this consumer made the stream (from a LocalLog) and so releases it on close. */
    private readonly ownsStream: boolean,
  ) {}

  public static async create(options: LocalConsumerOptions): Promise<LocalConsumer> {
    const logger = new Logger({
      serviceName: 'consumer',
      logLevel: options.logLevel ?? (process.env.CDP_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN',
    });
    const stream = options.stream instanceof LocalLog ? new LocalLogStream(options.stream) : options.stream;
    await stream.createTopic(LOCAL_DLQ_TOPIC, 1);
    const wired = await wireConsumer({
      shardMap: options.shardMap,
      redis: options.redisUrl ? { url: options.redisUrl } : undefined,
      ...(options.shards ? { shards: options.shards } : {}),
      deadLetters: stream.deadLetterSink(LOCAL_DLQ_TOPIC),
      parking:
        options.parking === false
          ? undefined
          : {
              parker: stream.recordParker(LOCAL_RETRY_TOPIC),
              retryTopic: LOCAL_RETRY_TOPIC,
            },
      logger,
      metrics: new Metrics({ namespace: 'CustomerDataPlatform', serviceName: 'consumer' }),
      ...(options.settings ? { settings: options.settings } : {}),
    });
    const mapping = { ...LOCAL_MAPPING, ...options.mapping };
    const partitions = await stream.partitionsOf(LOCAL_TOPIC).catch(() => 0);
    await stream.createTopic(LOCAL_RETRY_TOPIC, partitions > 0 ? partitions : LOCAL_RETRY_PARTITIONS);
    const route = options.route ?? ((handler: MskHandler) => handler);
    const mappingOn = (topic: string, group: string, onProgress?: (stats: EventSourceStats) => void) =>
      stream.eventSource({
        topic,
        group,
        handler: route((event, context) => wired.consumer.handle(event, context)),
        ...mapping,
        concurrency: options.concurrency ?? 4,
        onFailure: { topic: LOCAL_DLQ_TOPIC },
        functionName: 'cdp-local-consumer',
        ...(onProgress ? { onProgress } : {}),
        ...(options.progressIntervalMillis ? { progressIntervalMillis: options.progressIntervalMillis } : {}),
      });
    return new LocalConsumer(
      mappingOn(LOCAL_TOPIC, LOCAL_GROUP, options.onProgress),
      mappingOn(LOCAL_RETRY_TOPIC, LOCAL_RETRY_GROUP),
      wired,
      stream,
      options.stream instanceof LocalLog,
    );
  }

  public get consumer() {
    return this.wired.consumer;
  }

  /** Starts both mappings. */
  public async start(): Promise<void> {
    await Promise.all([this.emulator.start(), this.retryEmulator.start()]);
  }

  /**
   * Resolves once both topics are fully committed: records parked on the retry topic while the events
   * topic drains are drained in turn.
   * @throws {DrainTimeoutError} when `timeoutMillis` passes first.
   */
  public async drain(options: { readonly timeoutMillis?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMillis ?? 24 * 3_600_000);
    const remaining = () => ({ timeoutMillis: Math.max(1, deadline - Date.now()) });
    do {
      await this.emulator.drain(remaining());
      await this.retryEmulator.drain(remaining());
    } while (await this.hasLag(LOCAL_TOPIC));
  }

  private async hasLag(topic: string): Promise<boolean> {
    const lag = await this.stream.lag(LOCAL_GROUP, topic);
    return Object.values(lag).some((records) => records > 0);
  }

  public async close(): Promise<void> {
    await Promise.all([this.emulator.stop(), this.retryEmulator.stop()]);
    await this.wired.close();
    if (this.ownsStream) await this.stream.close();
  }
}
