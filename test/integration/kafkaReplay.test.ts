import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import {
  REPLAYED_FROM_HEADER,
  replayRanges,
  replayTimeRange,
} from '../../lambdas/shared/replay/replayRecords.js';
import { parseShardMap, ShardRouter } from '../../lambdas/shared/sharding/index.js';
import {
  LOCAL_GROUP,
  LOCAL_RETRY_TOPIC,
  LOCAL_TOPIC,
  LocalConsumer,
} from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { FaultProxy } from '../../local/faults/FaultProxy.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { destroyAll, waitFor } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { KafkaStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { runReconciliationLocally } from '../../local/workflows/reconciliation.js';
import { kafkaReady } from '../support/kafka.js';

/** 2026-01-01T00:00:00Z: record timestamps of the replay cases, one second apart. */
const T0 = 1_767_225_600_000;
/** About 1 KiB per record: a range of thousands spans many fetches (kafkajs fetches 1 MiB per partition). */
const PADDING = 'x'.repeat(1_000);
const FAST_RETRIES = {
  ReconcileIndex: 10,
  FindEventGaps: 10,
  SweepIndex: 10,
  ReplayGaps: 10,
  Plan: 10,
  Report: 10,
};

interface Copy {
  readonly value: string;
  readonly from: string | undefined;
  readonly trace: string | undefined;
}

describe.skipIf(!kafkaReady)('replay, gap replay and parking on a real Kafka broker', () => {
  let services: LocalDataServices;
  let cluster: KafkaCluster;
  let stream: KafkaStream;
  let admin: Admin;

  beforeAll(async () => {
    [services, cluster] = await Promise.all([
      LocalDataServices.start({ shards: 4, name: 'kafka-replay' }),
      KafkaCluster.start({ nodes: 1, name: 'kafka-replay' }),
    ]);
    admin = await cluster.admin();
    await applyTopics(admin, [
      ...configuredTopics('dev'),
      { name: 'replay.source', partitions: 3, retentionHours: 24 * 365 * 2 },
      { name: 'replay.copies', partitions: 3, retentionHours: 24 * 365 * 2 },
    ]);
    stream = new KafkaStream({ brokers: cluster.brokers, clientId: 'kafka-replay' });
  });

  afterAll(async () => {
    await stream?.close();
    await admin?.disconnect();
    await destroyAll();
    await services?.stop();
  });

  async function copies(topic: string): Promise<Copy[]> {
    const reader = stream.eventLog();
    const found: Copy[] = [];
    for (const [partition, end] of (await reader.endOffsets(topic)).entries()) {
      if (end === 0) continue;
      await reader.read(topic, { partition, fromOffset: 0, toOffset: end - 1 }, async (records) => {
        for (const r of records) {
          found.push({
            value: r.value?.toString('utf8').split('|')[0] ?? '',
            from: r.headers[REPLAYED_FROM_HEADER]?.toString(),
            trace: r.headers.trace?.toString(),
          });
        }
      });
    }
    return found;
  }

  it('replays offset and time ranges that span many fetches: each record once, unchanged, with its origin', async () => {
    // Prepare: 6,000 records of ~1 KiB on partition 0, one second apart; 500 on each other partition.
    const counts = [6_000, 500, 500];
    for (const [partition, count] of counts.entries()) {
      for (let i = 0; i < count; i += 1_000) {
        await stream.append(
          'replay.source',
          Array.from({ length: Math.min(1_000, count - i) }, (_, j) => ({
            key: `k${partition}`,
            value: `p${partition}-o${i + j}|${PADDING}`,
            timestamp: T0 + (i + j) * 1_000,
            partition,
            headers: { trace: 'abc' },
          })),
        );
      }
    }
    const eventLog = stream.eventLog();
    const target = {
      reader: eventLog,
      writer: eventLog,
      topic: 'replay.source',
      targetTopic: 'replay.copies',
    };

    // Act
    const byOffset = await replayRanges(target, [{ partition: 0, fromOffset: 1_000, toOffset: 5_499 }]);
    const byTime = await replayTimeRange(target, T0 + 100 * 1_000, T0 + 400 * 1_000);

    // Assess
    expect(byOffset.replayed).toBe(4_500);
    expect(byTime.replayed).toBe(900);
    expect(byTime.ranges).toEqual(
      [0, 1, 2].map((partition) => ({ partition, fromOffset: 100, toOffset: 399 })),
    );
    const copied = await copies('replay.copies');
    const expected = [
      ...Array.from({ length: 4_500 }, (_, i) => `p0-o${1_000 + i}`),
      ...[0, 1, 2].flatMap((p) => Array.from({ length: 300 }, (_, i) => `p${p}-o${100 + i}`)),
    ];
    expect(copied.map((c) => c.value).sort()).toEqual(expected.sort());
    // Every copy names the one record it came from.
    expect(new Set(copied.map((c) => c.from)).size).toBe(copied.length);
    const sample = copied.find((c) => c.value === 'p0-o4321');
    expect(sample?.from).toBe('replay.source/0/4321');
    expect(copied.every((c) => c.trace === 'abc')).toBe(true);
  });

  it('finds events the topic holds but no shard applied, replays them through the retry topic, and finds none after', async () => {
    // Prepare: traffic consumed normally; then 60 events and 3 poison records committed without being
    // applied, as if lost between the topic and the shards.
    const traffic = generateTraffic({ events: 2_000, customers: 300, seed: 91, customerPrefix: 'kgap' });
    const lost: Envelope[] = generateTraffic({
      events: 60,
      customers: 20,
      seed: 92,
      customerPrefix: 'kgap-lost',
    });
    const consume = async () => {
      const local = await LocalConsumer.create({
        stream,
        shardMap: services.shardMap,
        redisUrl: services.redis?.url,
      });
      try {
        await local.start();
        await local.drain({ timeoutMillis: 90_000 });
      } finally {
        await local.close();
      }
    };
    const publisher = stream.publisher('kgap');
    await publisher.publish(LOCAL_TOPIC, traffic);
    await consume();
    await stream.append(LOCAL_TOPIC, [
      { key: 'kgap-lost-0', value: 'not json' },
      { key: null, value: Buffer.from('{"eventId":"x"}') },
      { key: 'kgap-lost-1', value: null },
    ]);
    await publisher.publish(LOCAL_TOPIC, lost);
    await publisher.close();
    const ends = await stream.endOffsets(LOCAL_TOPIC);
    await admin.setOffsets({
      groupId: LOCAL_GROUP,
      topic: LOCAL_TOPIC,
      partitions: ends.map((offset, partition) => ({ partition, offset: String(offset) })),
    });
    const retryBefore = (await stream.endOffsets(LOCAL_RETRY_TOPIC)).reduce((a, b) => a + b, 0);
    const reconcile = () =>
      runReconciliationLocally({
        stream,
        shardMap: services.shardMap,
        redisUrl: services.redis?.url ?? '',
        settings: { settleSeconds: 0, maxRangesPerShard: 5 },
        retryIntervals: FAST_RETRIES,
      });

    // Act
    const found = await reconcile();
    await consume();
    const after = await reconcile();

    // Assess
    expect(found.result.status).toBe('SUCCEEDED');
    expect(found.report?.totals.gapEvents).toBe(60);
    expect(found.report?.totals.poison).toBe(3);
    expect(found.report?.totals.replayed).toBe(60);
    expect((await stream.endOffsets(LOCAL_RETRY_TOPIC)).reduce((a, b) => a + b, 0) - retryBefore).toBe(60);
    const snapshot = await snapshotShards(services);
    const expected = expectedState([...traffic, ...lost]);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(after.result.status).toBe('SUCCEEDED');
    expect(after.report?.totals.gapEvents).toBe(0);
    expect(await indexMismatches(services.redis?.url ?? '', expected)).toEqual([]);
  });

  it("parks an unreachable shard's records on the retry topic so the partitions move on, and applies them after", async () => {
    // Prepare: shard-3 is reached through a proxy that refuses connections.
    const proxy = await FaultProxy.start({ host: services.postgres.host, port: services.postgres.port });
    const shardMap = parseShardMap({
      ...services.shardMap,
      shards: services.shardMap.shards.map((s) =>
        s.id === 'shard-3' ? { ...s, url: proxy.via(s.url ?? '') } : s,
      ),
    });
    await proxy.refuse();
    const traffic = generateTraffic({ events: 3_000, customers: 400, seed: 93, customerPrefix: 'kpark' });
    const router = new ShardRouter(shardMap);
    const onShard3 = traffic.filter((e) => router.shardFor(e.customerId).id === 'shard-3').length;
    const retryBefore = (await stream.endOffsets(LOCAL_RETRY_TOPIC)).reduce((a, b) => a + b, 0);
    const publisher = stream.publisher('kpark');
    await publisher.publish(LOCAL_TOPIC, traffic);
    await publisher.close();
    const consumer = await LocalConsumer.create({
      stream,
      shardMap,
      redisUrl: services.redis?.url,
      settings: { shardRetryAttempts: 1, shardBreakerThreshold: 1, shardBreakerHalfOpenAfterMillis: 2_000 },
    });

    try {
      // Act 1: with shard-3 down, the events topic is consumed to its end (shard-3's records parked).
      await consumer.emulator.start();
      await waitFor(
        async () => Object.values(await stream.lag(LOCAL_GROUP, LOCAL_TOPIC)).every((lag) => lag === 0),
        { timeoutMs: 90_000, intervalMs: 250, description: 'the events topic to be consumed past shard-3' },
      );
      const parked = (await stream.endOffsets(LOCAL_RETRY_TOPIC)).reduce((a, b) => a + b, 0) - retryBefore;

      // Act 2: shard-3 is back; the retry topic's mapping applies the parked records.
      await proxy.heal();
      await consumer.start();
      await consumer.drain({ timeoutMillis: 120_000 });

      // Assess
      expect(parked).toBeGreaterThanOrEqual(onShard3);
      const snapshot = await snapshotShards(services);
      for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
      expect(snapshot.appliedEvents).toBeGreaterThanOrEqual(traffic.length);
    } finally {
      await consumer.close();
      await proxy.close();
    }
  });
});
