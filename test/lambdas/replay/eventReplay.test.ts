import type { ConsumerRunConfig, EachBatchPayload, ProducerRecord } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { Logger } from '@aws-lambda-powertools/logger';
import { replayEvents } from '../../../lambdas/event-replay/dependencies.js';
import { handler } from '../../../lambdas/event-replay/handler.js';
import { InvalidReplayRequestError } from '../../../lambdas/shared/replay/errors.js';
import { KafkaEventLog, type KafkaReplayClient } from '../../../lambdas/shared/replay/KafkaEventLog.js';
import { REPLAYED_FROM_HEADER } from '../../../lambdas/shared/replay/replayRecords.js';
import { parseReplayRequest } from '../../../lambdas/shared/replay/replayRequest.js';
import { recordingMetrics, valuesOf } from '../../support/emf.js';

const TOPIC = 'customer-events.v1';
const RETRY_TOPIC = 'customer-events.v1.retry';
const T0 = Date.UTC(2026, 0, 1);

interface StoredMessage {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string;
  readonly value: string;
}

/** A two-partition topic behind the kafkajs surface the replay uses (no broker can run here). */
function fakeKafka(partitions: StoredMessage[][]) {
  const sent: ProducerRecord[] = [];
  const groups: string[] = [];
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
      let run: ConsumerRunConfig | undefined;
      return {
        connect: async () => undefined,
        disconnect: async () => undefined,
        stop: async () => undefined,
        subscribe: async () => undefined,
        pause: () => undefined,
        run: async (config?: ConsumerRunConfig) => {
          run = config;
        },
        seek: ({ partition, offset }) => {
          const messages = (partitions[partition] ?? []).slice(Number(offset));
          // Delivered in batches of two, as fetches would.
          void (async () => {
            for (let i = 0; i < messages.length; i += 2) {
              const slice = messages.slice(i, i + 2);
              await run?.eachBatch?.({
                batch: {
                  topic: TOPIC,
                  partition,
                  messages: slice.map((m) => ({
                    offset: String(m.offset),
                    timestamp: String(m.timestamp),
                    key: Buffer.from(m.key),
                    value: Buffer.from(m.value),
                    headers: { origin: Buffer.from('ingest') },
                    attributes: 0,
                    size: 0,
                  })),
                  lastOffset: () => String(slice.at(-1)?.offset ?? -1),
                },
              } as unknown as EachBatchPayload);
            }
          })();
        },
      };
    },
    producer: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      send: async (record: ProducerRecord) => {
        sent.push(record);
        return [];
      },
    }),
  };
  return { client, sent, groups };
}

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
    const kafka = fakeKafka([partitionOf(0, 4), partitionOf(1, 6)]);
    const { metrics, published } = recordingMetrics('event-replay');
    const replay = replayEvents({
      eventLog: new KafkaEventLog(async () => kafka.client, 'cdp-dev-reconciliation'),
      topic: TOPIC,
      retryTopic: RETRY_TOPIC,
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics,
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
    const messages = kafka.sent.flatMap((r) => r.messages);
    expect(kafka.sent.every((r) => r.topic === RETRY_TOPIC && r.acks === -1)).toBe(true);
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

  it('copies a time range of every partition, found by offsets for timestamps', async () => {
    // Prepare: minutes 2 and 3 of each partition are in the range.
    const kafka = fakeKafka([partitionOf(0, 4), partitionOf(1, 6)]);
    const { metrics } = recordingMetrics('event-replay');
    const replay = replayEvents({
      eventLog: new KafkaEventLog(async () => kafka.client),
      topic: TOPIC,
      retryTopic: RETRY_TOPIC,
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics,
    });

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
    expect(kafka.sent.flatMap((r) => r.messages).map((m) => String(m.value))).toEqual([
      '{"p":0,"o":2}',
      '{"p":0,"o":3}',
      '{"p":1,"o":2}',
      '{"p":1,"o":3}',
    ]);
  });

  it('refuses a partition the topic does not have', async () => {
    const kafka = fakeKafka([partitionOf(0, 4)]);
    const replay = replayEvents({
      eventLog: new KafkaEventLog(async () => kafka.client),
      topic: TOPIC,
      retryTopic: RETRY_TOPIC,
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics: recordingMetrics('event-replay').metrics,
    });

    await expect(replay({ partition: 5, fromOffset: 0, toOffset: 1 })).rejects.toThrow(
      'partition 5 does not exist: customer-events.v1 has 1 partitions',
    );
    expect(kafka.sent).toEqual([]);
  });
});

describe('event-replay Lambda handler', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    process.env.CLUSTER_ARN =
      'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-dev/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab-2';
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
