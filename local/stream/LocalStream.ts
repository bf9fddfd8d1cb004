import type { DeadLetterSink } from '../../lambdas/shared/consumer/deadLetters.js';
import type { RecordParker } from '../../lambdas/shared/consumer/parking.js';
import type { EventPublisher } from '../../lambdas/shared/ingest/publisher.js';
import type { EventLogReader, EventLogWriter } from '../../lambdas/shared/replay/eventLog.js';
import type { EventSourceOptions, EventSourceStats } from '../esm/index.js';
import type { AppendMessage, AppendResult } from '../log/index.js';

/** An event source mapping of either backend, as the local platform drives it. */
export interface LocalEventSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** @throws {DrainTimeoutError} when the topic is not fully committed in time. */
  drain(options?: { readonly timeoutMillis?: number }): Promise<void>;
  stats(): EventSourceStats;
}

/**
 * Where the local platform's topics live: the durable local log (`npm start`'s embedded default, no Java)
 * or a real Kafka cluster (`npm start -- --kafka`, the Kafka drills). Everything that produces to or reads
 * from the topics goes through it, so the same platform code runs on either.
 */
export interface LocalStream {
  readonly kind: 'local log' | 'kafka';
  /** Where the topics are, for progress lines. */
  describe(): string;
  /** Creates the topic, or grows it to `partitions`; a topic with as many or more is left as it is. */
  createTopic(topic: string, partitions: number): Promise<void>;
  partitionsOf(topic: string): Promise<number>;
  /** Per partition (index = partition): the next offset to be written. */
  endOffsets(topic: string): Promise<number[]>;
  /** The next offset `group` reads per partition of `topic` (0 where it has committed nothing). */
  committedOffsets(group: string, topic: string): Promise<number[]>;
  /** Moves `group`'s offset of one partition (a group without active members, such as a tool's cursor). */
  commitOffset(group: string, topic: string, partition: number, offset: number): Promise<void>;
  /** Unconsumed records of `group` per partition of `topic`. */
  lag(group: string, topic: string): Promise<Record<number, number>>;
  /**
   * Appends records as they are (a producer would), e.g. poison records of a demo; a message without a
   * partition goes where Kafka's default partitioner puts its key.
   * @returns where each message landed, in the order given.
   */
  append(topic: string, messages: readonly AppendMessage[]): Promise<AppendResult[]>;
  /** The mapping that delivers `options.topic` to a function as `options.group`. */
  eventSource(options: EventSourceOptions): LocalEventSource;
  /** Where the consumer sends poison records. */
  deadLetterSink(topic: string): DeadLetterSink;
  /** Where the consumer parks the records of an unavailable shard. */
  recordParker(topic: string): RecordParker;
  /** The ingest API's producer (inside its resilient publisher). The caller closes it. */
  publisher(clientId: string): EventPublisher;
  /** Reads by offset and time, and writes copies: replay and the reconciliation's gap replay. */
  eventLog(): EventLogReader & EventLogWriter;
  /** Releases clients the stream opened (not the cluster or the log itself). */
  close(): Promise<void>;
}
