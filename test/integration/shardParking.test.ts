import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MSKRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredConsumer, wireConsumer } from '../../lambdas/consumer/dependencies.js';
import { PARKED_FROM_HEADER, type RecordParker } from '../../lambdas/shared/consumer/parking.js';
import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import { parseShardMap, ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import { LOCAL_RETRY_TOPIC, LOCAL_TOPIC } from '../../local/consumer/LocalConsumer.js';
import { LocalLogRecordParker } from '../../local/consumer/LocalLogRecordParker.js';
import { toMskRecord } from '../../local/esm/mskEvent.js';
import { LocalLog } from '../../local/log/index.js';
import { PostgresServer, RedisServer, sleep } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { mskEvent, mskRecord } from '../support/events.js';
import { MemoryDeadLetters } from '../support/memoryDeadLetters.js';

const PARTITIONS = 3;
// Long enough that a loaded machine (two test files at once on two cores) cannot let the breaker half-open
// between the two deliveries.
const HALF_OPEN_AFTER_MILLIS = 5_000;
// The test checks that no event bypassed the Redis guard: a loaded machine must not make an invocation of
// 900 events outlive its Redis deadline.
const REDIS_DEADLINE_MILLIS = 15_000;

async function count(url: string, sql: string): Promise<number> {
  const client = new PgSqlClient({ name: 'check', connectionString: url });
  try {
    const { rows } = await client.query<{ n: number }>(sql);
    return rows[0]?.n ?? 0;
  } finally {
    await client.close();
  }
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

async function retryTopicRecords(log: LocalLog): Promise<MSKRecord[]> {
  const records: MSKRecord[] = [];
  for (let partition = 0; partition < PARTITIONS; partition += 1) {
    const end = await log.endOffset(LOCAL_RETRY_TOPIC, partition);
    if (end === 0) continue;
    const read = await log.read(LOCAL_RETRY_TOPIC, partition, 0, end);
    records.push(...read.map((r) => toMskRecord(LOCAL_RETRY_TOPIC, partition, r)));
  }
  return records;
}

describe('records of an unavailable shard are parked on the retry topic', () => {
  let healthy: PostgresServer;
  let failing: PostgresServer;
  /** The production path: Powertools idempotency on Redis in front of the database guard. */
  let redis: RedisServer;
  let urls: string[];
  let dir: string;
  let log: LocalLog;
  const wiredConsumers: WiredConsumer[] = [];

  const wire = (parker: RecordParker) =>
    wireConsumer({
      shardMap: parseShardMap({ version: 1, shards: urls.map((url, i) => ({ id: `shard-${i}`, url })) }),
      redis: { url: redis.url },
      deadLetters: new MemoryDeadLetters(),
      parking: { parker, retryTopic: LOCAL_RETRY_TOPIC },
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'consumer' }),
      settings: {
        shardRetryAttempts: 1,
        shardRetryInitialDelayMillis: 10,
        shardBreakerThreshold: 1,
        shardBreakerHalfOpenAfterMillis: HALF_OPEN_AFTER_MILLIS,
        redisDeadlineMillis: REDIS_DEADLINE_MILLIS,
      },
      maxConnectionsPerShard: 2,
    }).then((wired) => {
      wiredConsumers.push(wired);
      return wired;
    });

  beforeAll(async () => {
    [healthy, failing, redis] = await Promise.all([
      PostgresServer.start({ name: 'parking-shards-0-2' }),
      PostgresServer.start({ name: 'parking-shard-3' }),
      RedisServer.start({ name: 'parking-idempotency' }),
    ]);
    urls = [
      ...(await healthy.createShardDatabases(3, 'parking')),
      ...(await failing.createShardDatabases(1, 'parked')),
    ];
    await Promise.all(
      urls.map(async (url, i) => {
        const client = new PgSqlClient({ name: `shard-${i}`, connectionString: url });
        await migrateShard(client);
        await client.close();
      }),
    );
    dir = await mkdtemp(join(tmpdir(), 'cdp-parking-'));
    log = await LocalLog.open(dir);
    await log.createTopic(LOCAL_RETRY_TOPIC, PARTITIONS);
  });

  afterAll(async () => {
    await Promise.all(wiredConsumers.map((w) => w.close()));
    await Promise.all([healthy?.destroy(), failing?.destroy(), redis?.destroy()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('parks them once the breaker is open so the partitions move on, and applies them from the retry topic after recovery', async () => {
    // Prepare: shard-3 is down; every partition carries customers of every shard.
    const wired = await wire(new LocalLogRecordParker(log, LOCAL_RETRY_TOPIC));
    const traffic = generateTraffic({ events: 900, customers: 150, seed: 11, customerPrefix: 'parking' });
    const router = new ShardRouter(
      parseShardMap({ version: 1, shards: urls.map((_, i) => ({ id: `shard-${i}` })) }),
    );
    const records = traffic.map((e, i) =>
      mskRecord(LOCAL_TOPIC, i % PARTITIONS, Math.floor(i / PARTITIONS), e),
    );
    const onFailedShard = records.filter(
      (_, i) => router.shardFor(traffic[i]?.customerId ?? '').id === 'shard-3',
    );
    await failing.stop('immediate');

    // Act 1: the first delivery fails shard-3's records (the breaker opens); the redelivery parks them.
    const first = await wired.consumer.handle(mskEvent(records));
    expect(first.batchItemFailures).toHaveLength(PARTITIONS);
    const redelivered = records.filter((r) =>
      first.batchItemFailures.some(
        (f) =>
          f.itemIdentifier.partition === `${LOCAL_TOPIC}-${r.partition}` &&
          r.offset >= f.itemIdentifier.offset,
      ),
    );
    const second = await wired.consumer.handle(mskEvent(redelivered));

    // Assess 1: nothing holds the partitions; exactly shard-3's records wait on the retry topic, unchanged.
    expect(second.batchItemFailures).toEqual([]);
    const parked = await retryTopicRecords(log);
    expect(parked.map((r) => r.value).sort()).toEqual(onFailedShard.map((r) => r.value).sort());
    const origin = parked[0]?.headers.find((h) => PARKED_FROM_HEADER in h)?.[PARKED_FROM_HEADER];
    expect(Buffer.from(origin ?? []).toString()).toMatch(
      new RegExp(`^${LOCAL_TOPIC.replaceAll('.', '\\.')}/\\d+/\\d+$`),
    );
    const appliedElsewhere = await Promise.all(
      urls.slice(0, 3).map((url) => count(url, 'SELECT count(*)::int AS n FROM applied_events')),
    );
    expect(sum(appliedElsewhere)).toBe(traffic.length - onFailedShard.length);
    expect(wired.consumer.totals.parked).toBe(onFailedShard.length);

    // Act 2: the retry topic's mapping delivers them while shard-3 is still down: they wait in place.
    const stillDown = await wired.consumer.handle(mskEvent(parked));
    expect(
      stillDown.batchItemFailures
        .map((f) => f.itemIdentifier.partition)
        .every((p) => p.startsWith(LOCAL_RETRY_TOPIC)),
    ).toBe(true);
    expect(stillDown.batchItemFailures.length).toBeGreaterThan(0);
    expect(await retryTopicRecords(log)).toHaveLength(parked.length);

    // Act 3: shard-3 is back; once the breaker half-opens the retry topic's records are applied.
    await failing.start();
    await sleep(HALF_OPEN_AFTER_MILLIS + 50);
    const recovered = await wired.consumer.handle(mskEvent(parked));

    // Assess 3: every event has exactly one effect.
    expect(recovered.batchItemFailures).toEqual([]);
    expect(await count(urls[3] ?? '', 'SELECT count(*)::int AS n FROM applied_events')).toBe(
      onFailedShard.length,
    );
    const total = await Promise.all(
      urls.map((url) => count(url, 'SELECT sum(event_count)::int AS n FROM customers')),
    );
    expect(sum(total)).toBe(traffic.length);
    // Every event went through the Redis idempotency guard: none was left in progress or bypassed.
    expect(wired.consumer.totals.idempotencyBypassed).toBe(0);
  });

  it('keeps the records in the partial batch response when the retry topic cannot take them', async () => {
    // Prepare: a consumer whose retry topic refuses writes; shard-3 is down.
    const wired = await wire({
      park: async () => {
        throw new Error('retry topic unavailable');
      },
    });
    const traffic = generateTraffic({ events: 300, customers: 60, seed: 12, customerPrefix: 'unparked' });
    const records = traffic.map((e, i) => mskRecord(LOCAL_TOPIC, 0, i, e));
    await failing.stop('immediate');

    // Act: the first delivery opens the breaker, the second finds it open and cannot park.
    const first = await wired.consumer.handle(mskEvent(records));
    const offset = first.batchItemFailures[0]?.itemIdentifier.offset ?? Number.POSITIVE_INFINITY;
    const second = await wired.consumer.handle(mskEvent(records.filter((r) => r.offset >= offset)));

    // Assess: the partition resumes at the same first record of shard-3; nothing was parked.
    expect(second.batchItemFailures).toEqual(first.batchItemFailures);
    expect(wired.consumer.totals.parked).toBe(0);
    await failing.start();
  });
});
