import type { Kafka } from 'kafkajs';
import type { EventSourceOptions } from './emulatorSettings.js';

/** Consumer-group timings of the local mappings: a dead member is noticed within seconds. */
export const KAFKA_SOURCE_DEFAULTS = {
  sessionTimeoutMillis: 10_000,
  heartbeatIntervalMillis: 1_000,
  rebalanceTimeoutMillis: 20_000,
  /** How often the consumer refreshes metadata, so new partitions of the topic are picked up. */
  metadataMaxAgeMillis: 3_000,
  /** How long the broker holds a fetch when no record is available. */
  fetchWaitMillis: 100,
  /** While a small batch waits for the batching window, how often it is fetched again. */
  windowRecheckMillis: 25,
  maxBytesPerPartition: 4 * 1024 * 1024,
  /** kafkajs processes at most this many partitions at once when the mapping sets no concurrency. */
  defaultPartitionsConcurrently: 64,
  /** kafkajs' retries inside the consumer (joins, fetches), after which it crashes and restarts. */
  consumerRetry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  /**
   * Longest wait for one offset commit. A commit stuck on a hung broker would hold the batch, and kafkajs
   * cannot rejoin the group while a batch is held; past this the batch is let go and fetched again.
   */
  commitTimeoutMillis: 10_000,
  /**
   * A partition with records waiting that has not committed for this long, while no batch of it is in the
   * handler, is stalled: the member is replaced by a new consumer, as Lambda replaces a stuck poller.
   * Longer than a session timeout plus a rebalance, so a member still joining is never taken for stalled.
   */
  stallTimeoutMillis: 30_000,
  /** How often the stall check runs (at most a third of the stall timeout). */
  stallCheckMillis: 5_000,
} as const;

/** The event source on a real Kafka cluster. */
export interface KafkaEventSourceOptions extends EventSourceOptions {
  /** A kafkajs client of the cluster (its brokers are reported as `bootstrapServers`). */
  readonly kafka: Kafka;
  /** The brokers the client bootstraps from, as the event names them. */
  readonly brokers: readonly string[];
  readonly sessionTimeoutMillis?: number;
  /** See {@link KAFKA_SOURCE_DEFAULTS.stallTimeoutMillis}; `Infinity` turns the watchdog off. */
  readonly stallTimeoutMillis?: number;
}
