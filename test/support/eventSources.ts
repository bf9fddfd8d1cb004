import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import { KafkaEventLog } from '../../lambdas/shared/replay/KafkaEventLog.js';
import {
  EventSourceEmulator,
  type EventSourceOptions,
  type EventSourceStats,
  KafkaEventSource,
  LOCAL_EVENT_SOURCE,
  type MskEventSource,
} from '../../local/esm/index.js';
import { type AppendMessage, LocalLog, type LogRecord } from '../../local/log/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';

const { Kafka: KafkaClient, logLevel } = kafkajs;

/** What the contract tests drive: an event source mapping of either backend. */
export interface EventSourceUnderTest {
  start(): Promise<void>;
  stop(): Promise<void>;
  drain(options?: { readonly timeoutMillis?: number }): Promise<void>;
  stats(): EventSourceStats;
}

/**
 * A place records live, with the event source mapping that reads it: the durable local log with its
 * emulator, or a real Kafka cluster with the kafkajs consumer-group backend. The contract tests run the
 * same cases against each.
 */
export interface EventSourceBackend {
  readonly name: 'local log' | 'kafka';
  /** How the MSK event names the cluster. */
  readonly source: MskEventSource;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  createTopic(topic: string, partitions: number): Promise<void>;
  append(topic: string, messages: readonly AppendMessage[]): Promise<void>;
  committed(group: string, topic: string, partition: number): Promise<number>;
  endOffset(topic: string, partition: number): Promise<number>;
  /** Every record of a partition, in offset order. */
  readAll(topic: string, partition: number): Promise<LogRecord[]>;
  eventSource(options: EventSourceOptions): EventSourceUnderTest;
  /** Arguments that let `test/local/fixtures/consumeInChild.ts` consume this backend in another process. */
  childArguments(): string[];
}

/** The durable local log in a temp dir, with {@link EventSourceEmulator}. */
export function localLogBackend(): EventSourceBackend {
  let dir = '';
  let log: LocalLog | undefined;
  const opened = (): LocalLog => {
    if (log === undefined) throw new Error('local log backend not set up');
    return log;
  };
  return {
    name: 'local log',
    source: LOCAL_EVENT_SOURCE,
    async setup() {
      dir = await mkdtemp(join(tmpdir(), 'local-esm-'));
      log = await LocalLog.open(dir, { fsync: false });
    },
    async teardown() {
      log = undefined;
      await rm(dir, { recursive: true, force: true });
    },
    createTopic: (topic, partitions) => opened().createTopic(topic, partitions),
    append: async (topic, messages) => {
      await opened().append(topic, messages);
    },
    committed: (group, topic, partition) => opened().committed(group, topic, partition),
    endOffset: (topic, partition) => opened().endOffset(topic, partition),
    readAll: async (topic, partition) => {
      const end = await opened()
        .endOffset(topic, partition)
        .catch(() => 0);
      return end === 0 ? [] : opened().read(topic, partition, 0, end);
    },
    eventSource: (options) => new EventSourceEmulator({ ...options, log: opened() }),
    childArguments: () => ['log', dir],
  };
}

/** A real single-node KRaft cluster, with {@link KafkaEventSource}. */
export function kafkaBackend(): EventSourceBackend {
  let cluster: KafkaCluster | undefined;
  let kafka: Kafka | undefined;
  let admin: Admin | undefined;
  let producer: Producer | undefined;
  const started = () => {
    if (cluster === undefined || kafka === undefined || admin === undefined || producer === undefined) {
      throw new Error('kafka backend not set up');
    }
    return { cluster, kafka, admin, producer };
  };
  const backend: EventSourceBackend & { source: MskEventSource } = {
    name: 'kafka',
    source: LOCAL_EVENT_SOURCE,
    async setup() {
      cluster = await KafkaCluster.start({ nodes: 1, name: 'esm-contract' });
      kafka = new KafkaClient({ ...cluster.clientConfig('esm-contract'), logLevel: logLevel.NOTHING });
      admin = kafka.admin();
      await admin.connect();
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      backend.source = {
        eventSourceArn: LOCAL_EVENT_SOURCE.eventSourceArn,
        bootstrapServers: cluster.brokers.join(','),
      };
    },
    async teardown() {
      await producer?.disconnect();
      await admin?.disconnect();
      await cluster?.destroy();
      cluster = undefined;
    },
    async createTopic(topic, partitions) {
      await started().admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions }],
      });
    },
    async append(topic, messages) {
      await started().producer.send({
        topic,
        acks: -1,
        messages: messages.map((message) => ({
          key: message.key ?? null,
          value: message.value,
          ...(message.partition === undefined ? {} : { partition: message.partition }),
          ...(message.timestamp === undefined ? {} : { timestamp: String(message.timestamp) }),
          ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
        })),
      });
    },
    async committed(group, topic, partition) {
      const [offsets] = await started().admin.fetchOffsets({ groupId: group, topics: [topic] });
      const offset = Number(offsets?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
      return Math.max(0, offset);
    },
    async endOffset(topic, partition) {
      const offsets = await started().admin.fetchTopicOffsets(topic);
      return Number(offsets.find((o) => o.partition === partition)?.high ?? 0);
    },
    async readAll(topic, partition) {
      const { kafka: client } = started();
      const end = await backend.endOffset(topic, partition).catch(() => 0);
      if (end === 0) return [];
      const reader = new KafkaEventLog({
        connect: async () => client,
        publisher: {
          publishRecords: async () => {
            throw new TypeError('the contract reader never writes');
          },
          close: async () => undefined,
        },
        groupPrefix: 'contract-reader',
      });
      const records: LogRecord[] = [];
      await reader.read(topic, { partition, fromOffset: 0, toOffset: end - 1 }, async (chunk) => {
        records.push(...chunk);
      });
      return records;
    },
    eventSource(options) {
      const { kafka: client, cluster: running } = started();
      return new KafkaEventSource({ ...options, kafka: client, brokers: running.brokers });
    },
    childArguments: () => ['kafka', started().cluster.brokers.join(',')],
  };
  return backend;
}
