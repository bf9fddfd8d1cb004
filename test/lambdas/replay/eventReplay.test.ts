import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import { mockClient } from 'aws-sdk-client-mock';
import type { ConsumerRunConfig, EachBatchPayload, ProducerRecord } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { Logger } from '@aws-lambda-powertools/logger';
import { replayEvents } from '../../../lambdas/event-replay/dependencies.js';
import { handler } from '../../../lambdas/event-replay/handler.js';
import { KafkaPublisher } from '../../../lambdas/shared/kafka/KafkaPublisher.js';
import {
  EventLogUnavailableError,
  InvalidReplayRequestError,
} from '../../../lambdas/shared/replay/errors.js';
import {
  DEFAULT_REPLAY_GROUP_PREFIX,
  KafkaEventLog,
  type KafkaReplayClient,
} from '../../../lambdas/shared/replay/KafkaEventLog.js';
import { mskEventLogFromEnvironment } from '../../../lambdas/shared/replay/mskEventLog.js';
import { REPLAYED_FROM_HEADER } from '../../../lambdas/shared/replay/replayRecords.js';
import { parseReplayRequest } from '../../../lambdas/shared/replay/replayRequest.js';
import { kafkaPolicy } from '../../../lambdas/shared/resilience/named.js';
import { recordingMetrics, valuesOf } from '../../support/emf.js';

const TOPIC = 'customer-events.v1';
const RETRY_TOPIC = 'customer-events.v1.retry';
const T0 = Date.UTC(2026, 0, 1);
const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-dev/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab-2';
/** A reader that never reaches the range's end fails fast instead of after the production timeout. */
const FAST = { attemptTimeoutMillis: 2_000, retries: 0 };
/** Stops a fake consumer that fetches forever (a reader that never advances). */
const MAX_FETCHES = 200;

interface StoredMessage {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string;
  readonly value: string;
}

/**
 * A topic behind the kafkajs surface the replay uses (no broker can run here). The consumer fetches as
 * kafkajs' consumer group does: each fetch of a partition starts at its resolved offset (the earliest for
 * a new group) and hands over at most `fetchRecords`; an unresolved batch is fetched again; a seek
 * replaces the resolved offset at the next fetch; paused partitions are not fetched. The first fetch runs
 * as the group is joined, so its batches arrive before `run()` returns and any seek can take effect.
 */
function fakeKafka(partitions: StoredMessage[][], fetchRecords = 2) {
  const groups: string[] = [];
  const fetches: Array<{ readonly partition: number; readonly from: number }> = [];
  let heartbeats = 0;
  const client: KafkaReplayClient = {
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      fetchTopicOffsets: async () =>
        partitions.map((p, partition) => ({
          partition,
          offset: String(p.length),
          high: String(p.length),
          low: '0',
        })),
      fetchTopicOffsetsByTimestamp: async (_topic: string, timestamp?: number) =>
        partitions.map((p, partition) => ({
          partition,
          offset: String(p.find((m) => m.timestamp >= (timestamp ?? 0))?.offset ?? p.length),
        })),
    }),
    consumer: (config) => {
      groups.push(config.groupId);
      const resolved = new Map<number, number>();
      const seeks = new Map<number, number>();
      const paused = new Set<number>();
      let running = false;
      const fetchRound = async (run: ConsumerRunConfig) => {
        for (const [partition, offset] of seeks) resolved.set(partition, offset);
        seeks.clear();
        for (const [partition, stored] of partitions.entries()) {
          if (!running || paused.has(partition) || fetches.length >= MAX_FETCHES) continue;
          const from = resolved.get(partition) ?? 0;
          const slice = stored.slice(from, from + fetchRecords);
          // kafkajs hands no empty batch to eachBatch.
          const last = slice.at(-1);
          if (last === undefined) continue;
          fetches.push({ partition, from });
          await run.eachBatch?.({
            batch: {
              topic: TOPIC,
              partition,
              highWatermark: String(stored.length),
              messages: slice.map((m) => ({
                offset: String(m.offset),
                timestamp: String(m.timestamp),
                key: Buffer.from(m.key),
                value: Buffer.from(m.value),
                headers: { origin: Buffer.from('ingest') },
                attributes: 0,
                size: 0,
              })),
              lastOffset: () => String(last.offset),
            },
            resolveOffset: (offset: string) => resolved.set(partition, Number(offset) + 1),
            heartbeat: async () => {
              heartbeats += 1;
            },
            isStale: () => seeks.has(partition),
            isRunning: () => running,
          } as unknown as EachBatchPayload);
          if (run.eachBatchAutoResolve ?? true) resolved.set(partition, last.offset + 1);
        }
      };
      return {
        connect: async () => undefined,
        disconnect: async () => undefined,
        subscribe: async () => undefined,
        stop: async () => {
          running = false;
        },
        pause: (topics) => {
          for (const t of topics) for (const p of t.partitions ?? []) paused.add(p);
        },
        seek: ({ partition, offset }) => {
          seeks.set(partition, Number(offset));
        },
        run: async (run?: ConsumerRunConfig) => {
          if (run === undefined) throw new TypeError('run needs a config');
          running = true;
          await fetchRound(run);
          void (async () => {
            while (running && fetches.length < MAX_FETCHES) {
              await new Promise((resolve) => setImmediate(resolve));
              await fetchRound(run);
            }
          })();
        },
      };
    },
  };
  return {
    client,
    groups,
    fetches,
    heartbeats: () => heartbeats,
  };
}

const kafkaMock = mockClient(KafkaClient);

/** A `KafkaPublisher` whose producer records what it is sent. */
function recordingPublisher() {
  const sent: ProducerRecord[] = [];
  const publisher = new KafkaPublisher({
    clusterArn: CLUSTER_ARN,
    kafkaClient: new KafkaClient({ region: 'eu-west-1' }),
    tokenProvider: async () => ({ token: 'token' }),
    bootstrapPolicy: kafkaPolicy({ attemptTimeoutMs: 1_000, retries: 0, initialDelayMs: 1, maxDelayMs: 1 }),
    createClient: () => ({
      producer: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        send: async (record: ProducerRecord) => {
          sent.push(record);
          return [];
        },
      }),
    }),
  });
  return { publisher, sent };
}

function setup(partitions: StoredMessage[][], options: { fetchRecords?: number; groupPrefix?: string } = {}) {
  const kafka = fakeKafka(partitions, options.fetchRecords);
  const { publisher, sent } = recordingPublisher();
  const { metrics, published } = recordingMetrics('event-replay');
  const eventLog = new KafkaEventLog({
    connect: async () => kafka.client,
    publisher,
    ...(options.groupPrefix === undefined ? {} : { groupPrefix: options.groupPrefix }),
  });
  const replay = replayEvents({
    eventLog,
    topic: TOPIC,
    retryTopic: RETRY_TOPIC,
    logger: new Logger({ logLevel: 'SILENT' }),
    metrics,
    settings: FAST,
  });
  const copied = () => sent.flatMap((r) => r.messages);
  return { kafka, sent, copied, published, replay };
}

beforeEach(() => {
  kafkaMock.reset();
  kafkaMock.on(GetBootstrapBrokersCommand).resolves({ BootstrapBrokerStringSaslIam: 'b-1:9098' });
});

const partitionOf = (partition: number, count: number): StoredMessage[] =>
  Array.from({ length: count }, (_, offset) => ({
    offset,
    timestamp: T0 + offset * 60_000,
    key: `c-${partition}`,
    value: `{"p":${partition},"o":${offset}}`,
  }));

describe('event replay request', () => {
  it('accepts a time range or an offset range', () => {
    expect(parseReplayRequest({ from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00Z' })).toEqual({
      kind: 'time',
      from: T0,
      to: T0 + 3_600_000,
    });
    expect(parseReplayRequest({ partition: 3, fromOffset: 10, toOffset: 20 })).toEqual({
      kind: 'offsets',
      partition: 3,
      fromOffset: 10,
      toOffset: 20,
    });
  });

  it.each([
    [{}, 'give a time range (from, to) or an offset range (partition, fromOffset, toOffset)'],
    [{ from: '2026-01-01T00:00:00Z' }, 'a time range needs both from and to'],
    [{ from: 'yesterday', to: '2026-01-01T00:00:00Z' }, 'from: must be an ISO-8601 time'],
    [{ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'must be before to'],
    [{ partition: 1, fromOffset: 9, toOffset: 2 }, 'fromOffset (9) must not be after toOffset (2)'],
    [{ partition: -1, fromOffset: 0, toOffset: 2 }, 'partition:'],
    [{ from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00Z', partition: 0 }, 'not both'],
    [{ topic: 'other', partition: 0, fromOffset: 0, toOffset: 1 }, 'Unrecognized key'],
  ])('rejects %j with a message that says what is wrong', (input, message) => {
    expect(() => parseReplayRequest(input)).toThrow(InvalidReplayRequestError);
    expect(() => parseReplayRequest(input)).toThrow(message);
  });
});

describe('event replay over kafkajs (fake client)', () => {
  it('copies an offset range of one partition unchanged to the retry topic, with its origin', async () => {
    // Prepare
    const { kafka, sent, copied, published, replay } = setup([partitionOf(0, 4), partitionOf(1, 6)], {
      groupPrefix: 'cdp-dev-reconciliation',
    });

    // Act
    const result = await replay({ partition: 1, fromOffset: 1, toOffset: 3 });

    // Assess
    expect(result).toEqual({
      topic: TOPIC,
      targetTopic: RETRY_TOPIC,
      ranges: [{ partition: 1, fromOffset: 1, toOffset: 3 }],
      replayed: 3,
    });
    const messages = copied();
    expect(sent.every((r) => r.topic === RETRY_TOPIC && r.acks === -1)).toBe(true);
    expect(messages.map((m) => String(m.value))).toEqual(['{"p":1,"o":1}', '{"p":1,"o":2}', '{"p":1,"o":3}']);
    expect(messages.map((m) => String(m.key))).toEqual(['c-1', 'c-1', 'c-1']);
    expect(messages.map((m) => String(m.headers?.[REPLAYED_FROM_HEADER]))).toEqual([
      `${TOPIC}/1/1`,
      `${TOPIC}/1/2`,
      `${TOPIC}/1/3`,
    ]);
    expect(messages.every((m) => String(m.headers?.origin) === 'ingest')).toBe(true);
    expect(kafka.groups).toEqual([expect.stringMatching(/^cdp-dev-reconciliation-[0-9a-f-]{36}$/)]);
    expect(valuesOf(published.at(-1))).toEqual({ EventsReplayed: 3 });
  });

  it('reads a range spanning several fetches to its end, each record once, resolving as it goes', async () => {
    // Prepare: three records a fetch, the range 4..19 of 25 starts and ends inside a fetch.
    const { kafka, copied, replay } = setup([partitionOf(0, 10), partitionOf(1, 25)], { fetchRecords: 3 });

    // Act
    const result = await replay({ partition: 1, fromOffset: 4, toOffset: 19 });

    // Assess
    expect(result.replayed).toBe(16);
    expect(copied().map((m) => String(m.headers?.[REPLAYED_FROM_HEADER]))).toEqual(
      Array.from({ length: 16 }, (_, i) => `${TOPIC}/1/${4 + i}`),
    );
    // The first fetch (before the seek) starts at the earliest offset; then each fetch goes on from the
    // last resolved offset, and the other partition stays paused.
    const ofRange = kafka.fetches.filter((f) => f.partition === 1).map((f) => f.from);
    expect(ofRange).toEqual([0, 4, 7, 10, 13, 16, 19]);
    expect(kafka.fetches.filter((f) => f.partition === 0)).toHaveLength(1);
    expect(kafka.heartbeats()).toBeGreaterThanOrEqual(ofRange.length);
  });

  it('hands over records fetched before the seek only from the range start, and never twice', async () => {
    // Prepare: the first fetch (from offset 0, before the seek) holds offsets 0..4, two inside the range.
    const { copied, replay } = setup([partitionOf(0, 12)], { fetchRecords: 5 });

    // Act
    const result = await replay({ partition: 0, fromOffset: 3, toOffset: 8 });

    // Assess
    expect(result.replayed).toBe(6);
    expect(copied().map((m) => String(m.value))).toEqual([3, 4, 5, 6, 7, 8].map((o) => `{"p":0,"o":${o}}`));
  });

  it('copies a time range of every partition, found by offsets for timestamps', async () => {
    // Prepare: minutes 2 and 3 of each partition are in the range.
    const { copied, replay } = setup([partitionOf(0, 4), partitionOf(1, 6)]);

    // Act
    const result = await replay({
      from: new Date(T0 + 2 * 60_000).toISOString(),
      to: new Date(T0 + 4 * 60_000).toISOString(),
    });

    // Assess
    expect(result.ranges).toEqual([
      { partition: 0, fromOffset: 2, toOffset: 3 },
      { partition: 1, fromOffset: 2, toOffset: 3 },
    ]);
    expect(copied().map((m) => String(m.value))).toEqual([
      '{"p":0,"o":2}',
      '{"p":0,"o":3}',
      '{"p":1,"o":2}',
      '{"p":1,"o":3}',
    ]);
  });

  it('refuses a partition the topic does not have', async () => {
    const { sent, replay } = setup([partitionOf(0, 4)]);

    await expect(replay({ partition: 5, fromOffset: 0, toOffset: 1 })).rejects.toThrow(
      'partition 5 does not exist: customer-events.v1 has 1 partitions',
    );
    expect(sent).toEqual([]);
  });

  it('fails retriable when the copies cannot be written (the publisher classifies the outage)', async () => {
    // Prepare: broker discovery fails with a throttling error on every attempt.
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    const { sent, replay } = setup([partitionOf(0, 4)]);

    // Act
    const failure = replay({ partition: 0, fromOffset: 0, toOffset: 1 });

    // Assess
    await expect(failure).rejects.toBeInstanceOf(EventLogUnavailableError);
    expect(sent).toEqual([]);
  });
});

describe('event log from the environment', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('reads with the group prefix the IAM policy allows, whatever CONSUMER_GROUP says', () => {
    process.env.CLUSTER_ARN = CLUSTER_ARN;
    process.env.CONSUMER_GROUP = 'some-other-group';

    const eventLog = mskEventLogFromEnvironment('cdp-event-replay', {
      kafkaClient: new KafkaClient({ region: 'eu-west-1' }),
    });

    expect(eventLog.groupPrefix).toBe(DEFAULT_REPLAY_GROUP_PREFIX);
  });

  it('needs CLUSTER_ARN', () => {
    delete process.env.CLUSTER_ARN;

    expect(() =>
      mskEventLogFromEnvironment('cdp-event-replay', {
        kafkaClient: new KafkaClient({ region: 'eu-west-1' }),
      }),
    ).toThrow('environment variable CLUSTER_ARN is required');
  });
});

describe('event-replay Lambda handler', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    process.env.CLUSTER_ARN = CLUSTER_ARN;
    process.env.TOPIC = TOPIC;
    process.env.RETRY_TOPIC = RETRY_TOPIC;
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it('rejects an invalid request before it reaches the cluster', async () => {
    await expect(handler({ from: '2026-01-01T00:00:00Z' }, {} as never)).rejects.toThrow(
      'invalid replay request: a time range needs both from and to',
    );
  });
});
