import type { KafkaClient } from '@aws-sdk/client-kafka';
import type { TimeoutPolicy } from 'cockatiel';
import kafkajs, { type KafkaConfig, type Producer, type ProducerConfig, type RetryOptions } from 'kafkajs';
import { mskClusterArnOf } from '../aws/arn.js';
import type { Envelope } from '../events/index.js';
import { encodeEvent } from '../events/index.js';
import { type EventPublisher, PublishError } from '../ingest/publisher.js';
import { deadline } from '../resilience/builders.js';
import { BOOTSTRAP_POLICY } from '../resilience/defaults.js';
import { type KafkaPolicy, kafkaPolicy } from '../resilience/named.js';
import { getIamBootstrapBrokers } from './bootstrapBrokers.js';
import { classifyKafkaError, isConnectionFailure } from './classifyKafkaError.js';
import { type KafkaLogger, kafkaConfig, type MskTokenProvider, plaintextKafkaConfig } from './createKafka.js';

// kafkajs is CommonJS and spreads its exports into module.exports, which Node's ESM loader cannot see
// as named exports: take them from the default export.
const { CompressionTypes, Kafka, Partitioners } = kafkajs;

/** Shown in broker logs and quotas for this function's connections. */
export const INGEST_CLIENT_ID = 'cdp-ingest';

/**
 * Producer settings. `acks: -1` and `idempotent` make a write durable on every in-sync replica and
 * deduplicated by the broker across kafkajs' own retries. kafkajs keeps no per-request sequence window,
 * so its idempotent producer needs `maxInFlightRequests: 1` to keep sequence numbers in order.
 */
export const PRODUCER_DEFAULTS = {
  /** How long the broker may wait for all in-sync replicas before answering with an error. */
  ackTimeoutMillis: 5_000,
  /**
   * kafkajs retries of a failed send (leader moves, not-enough-replicas). Bounded, unlike kafkajs' default
   * for idempotent producers (unlimited), because an HTTP caller is waiting; see {@link KafkaPublisher}.
   */
  sendRetries: 3,
  retryInitialMillis: 100,
  retryMaxMillis: 1_000,
  /** Upper bound of one publish call: broker discovery, connection and the sends with their retries. */
  publishTimeoutMillis: 10_000,
  /**
   * Most records in one `send` (one produce request per partition leader). A larger publish goes as
   * consecutive sends, so no record batch outgrows the brokers' `message.max.bytes` (1 MB on MSK by default).
   */
  maxRecordsPerRequest: 500,
} as const;

/** How record batches travel to the brokers; GZIP is the only codec kafkajs ships. */
export type PublishCompression = 'gzip' | 'none';

export type KafkaPublisherSettings = { -readonly [K in keyof typeof PRODUCER_DEFAULTS]: number } & {
  compression: PublishCompression;
};

/** One record to publish: the key routes it (same key, same partition). */
export interface KafkaRecordMessage {
  readonly key: string | Buffer | null;
  readonly value: string | Buffer | null;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
}

/** The part of a kafkajs producer the publisher uses; tests pass a fake. */
export type ProducerHandle = Pick<Producer, 'connect' | 'disconnect' | 'send'>;

/** The part of a kafkajs client the publisher uses. */
export interface ProducerClient {
  producer(config: ProducerConfig): ProducerHandle;
}

/** Settings every publisher takes, whatever cluster it writes to. */
interface PublisherCommonOptions {
  readonly clientId?: string;
  readonly logger?: KafkaLogger;
  /** Builds the kafkajs client from its configuration: `new Kafka(config)` unless told. */
  readonly createClient?: (config: KafkaConfig) => ProducerClient;
  readonly settings?: Partial<KafkaPublisherSettings>;
}

/** An MSK cluster with IAM access control: brokers discovered with `GetBootstrapBrokers`, TLS + SASL. */
export interface MskPublisherOptions extends PublisherCommonOptions {
  /** The MSK cluster; its IAM bootstrap brokers are discovered with `GetBootstrapBrokers`. */
  readonly clusterArn: string;
  readonly kafkaClient: KafkaClient;
  /** Signs the MSK IAM token; the default uses the function's role credentials. */
  readonly tokenProvider?: MskTokenProvider;
  /** Around `GetBootstrapBrokers`; `kafkaPolicy(BOOTSTRAP_POLICY)` unless told. */
  readonly bootstrapPolicy?: KafkaPolicy;
}

/** A cluster reached over PLAINTEXT at known addresses: the throwaway clusters on loopback. */
export interface PlaintextPublisherOptions extends PublisherCommonOptions {
  readonly brokers: readonly string[];
}

export type KafkaPublisherOptions = MskPublisherOptions | PlaintextPublisherOptions;

const isMsk = (options: KafkaPublisherOptions): options is MskPublisherOptions => 'clusterArn' in options;

/**
 * {@link EventPublisher} on MSK with kafkajs: sends of at most `maxRecordsPerRequest` envelopes as JSON
 * with key = customerId (kafkajs' default, Java-compatible murmur2 partitioner, so one customer's events
 * share a partition), GZIP-compressed. GZIP is the only codec kafkajs ships; Snappy, LZ4 and ZSTD need
 * codec packages registered in `CompressionCodecs`, and none is a dependency of this project.
 *
 * The brokers are discovered once per instance and the producer connects on the first publish. A failed
 * publish discards the producer (the next publish connects a new one) because the outcome of a timed-out
 * send is unknown: a new producer id guarantees its sequence numbers are never reused for other records,
 * which the bounded retries would otherwise risk. After a connection failure or timeout the brokers are
 * discovered again, in case the cluster's brokers changed.
 */
export class KafkaPublisher implements EventPublisher {
  private readonly settings: KafkaPublisherSettings;
  /** The region of an MSK cluster (the IAM token is signed for it); undefined for a PLAINTEXT cluster. */
  private readonly region: string | undefined;
  private readonly bootstrapPolicy: KafkaPolicy;
  private readonly publishDeadline: TimeoutPolicy;
  private brokers: Promise<string[]> | undefined;
  private producer: Promise<ProducerHandle> | undefined;
  private readonly disconnecting = new Set<Promise<void>>();
  private readonly discarded = new WeakSet<Promise<ProducerHandle>>();
  private closed = false;

  /**
   * @throws {RangeError} when `clusterArn` is not an MSK cluster ARN, a broker list is empty, or
   * `maxRecordsPerRequest` is not a positive integer.
   */
  public constructor(private readonly options: KafkaPublisherOptions) {
    if (isMsk(options)) {
      const region = mskClusterArnOf(options.clusterArn)?.region;
      if (region === undefined) throw new RangeError(`not an MSK cluster ARN: ${options.clusterArn}`);
      this.region = region;
      this.bootstrapPolicy = options.bootstrapPolicy ?? kafkaPolicy(BOOTSTRAP_POLICY);
    } else {
      if (options.brokers.length === 0) throw new RangeError('At least one bootstrap broker is required');
      this.region = undefined;
      this.bootstrapPolicy = kafkaPolicy(BOOTSTRAP_POLICY);
    }
    this.settings = { ...PRODUCER_DEFAULTS, compression: 'gzip', ...options.settings };
    const { maxRecordsPerRequest } = this.settings;
    if (!Number.isInteger(maxRecordsPerRequest) || maxRecordsPerRequest < 1)
      throw new RangeError(`maxRecordsPerRequest must be a positive integer, not ${maxRecordsPerRequest}`);
    this.publishDeadline = deadline(this.settings.publishTimeoutMillis);
  }

  /** The options of every producer this publisher creates. */
  public producerConfig(): ProducerConfig {
    const retry: RetryOptions = {
      retries: this.settings.sendRetries,
      initialRetryTime: this.settings.retryInitialMillis,
      maxRetryTime: this.settings.retryMaxMillis,
    };
    return {
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry,
    };
  }

  /**
   * Publishes the envelopes in sends of at most `maxRecordsPerRequest`, acknowledged by all in-sync
   * replicas. When a later send fails after an earlier one succeeded, the call fails as a whole and the
   * caller's retry or spill writes those records again: consumers apply each event id once.
   * @throws {PublishError} classified by {@link classifyKafkaError}; also when the publisher is closed.
   */
  public async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    await this.publishRecords(
      topic,
      envelopes.map((envelope) => ({ key: envelope.customerId, value: encodeEvent(envelope) })),
    );
  }

  /**
   * Publishes records as they are (key, value, headers), in sends as {@link publish} does, acknowledged by
   * all in-sync replicas: how parked and replayed records are copied to the retry topic.
   * @throws {PublishError} as {@link publish}.
   */
  public async publishRecords(topic: string, messages: readonly KafkaRecordMessage[]): Promise<void> {
    const context = { topic, events: messages.length };
    if (this.closed) throw new PublishError('publisher is closed', false, context);
    if (messages.length === 0) return;
    let used: Promise<ProducerHandle> | undefined;
    try {
      await this.publishDeadline.execute(async () => {
        used = this.connected();
        const producer = await used;
        const { maxRecordsPerRequest } = this.settings;
        for (let start = 0; start < messages.length; start += maxRecordsPerRequest) {
          await producer.send({
            topic,
            messages: messages
              .slice(start, start + maxRecordsPerRequest)
              .map((message) => ({ ...message, headers: { ...message.headers } })),
            acks: -1,
            compression: this.settings.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
            timeout: this.settings.ackTimeoutMillis,
          });
        }
      });
    } catch (error: unknown) {
      // Only the producer this call used: a concurrent call may already have connected a new one.
      this.discard(used);
      if (isConnectionFailure(error)) this.brokers = undefined;
      throw classifyKafkaError(error, context);
    }
  }

  /** Disconnects the producer; later publishes fail. Safe to call twice. */
  public async close(): Promise<void> {
    this.closed = true;
    this.discard(this.producer);
    await Promise.all([...this.disconnecting]);
  }

  private connected(): Promise<ProducerHandle> {
    this.producer ??= this.connect().catch((error: unknown) => {
      this.producer = undefined;
      throw error;
    });
    return this.producer;
  }

  private async connect(): Promise<ProducerHandle> {
    const clientId = this.options.clientId ?? INGEST_CLIENT_ID;
    const logger = this.options.logger === undefined ? {} : { logger: this.options.logger };
    const { options } = this;
    const config = isMsk(options)
      ? kafkaConfig({
          brokers: await this.discoverBrokers(options),
          clientId,
          region: this.region ?? '',
          ...logger,
          ...(options.tokenProvider === undefined ? {} : { tokenProvider: options.tokenProvider }),
        })
      : plaintextKafkaConfig({ brokers: options.brokers, clientId, ...logger });
    const client = this.options.createClient?.(config) ?? new Kafka(config);
    const producer = client.producer(this.producerConfig());
    await producer.connect();
    return producer;
  }

  private discoverBrokers(options: MskPublisherOptions): Promise<string[]> {
    this.brokers ??= this.bootstrapPolicy
      .execute(({ signal }) => getIamBootstrapBrokers(options.kafkaClient, options.clusterArn, signal))
      .catch((error: unknown) => {
        this.brokers = undefined;
        throw error;
      });
    return this.brokers;
  }

  private discard(producer: Promise<ProducerHandle> | undefined): void {
    if (producer === undefined || this.discarded.has(producer)) return;
    this.discarded.add(producer);
    if (this.producer === producer) this.producer = undefined;
    const done = producer
      .then((p) => p.disconnect())
      .catch((error: unknown) => {
        this.options.logger?.debug('producer disconnect failed', { error });
      })
      .finally(() => this.disconnecting.delete(done));
    this.disconnecting.add(done);
  }
}
