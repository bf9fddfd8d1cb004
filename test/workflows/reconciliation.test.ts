import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { createRedisClient, type RedisClient } from '../../lambdas/shared/redis/createRedisClient.js';
import { parseShardMap, ShardRouter } from '../../lambdas/shared/sharding/index.js';
import {
  LOCAL_DLQ_TOPIC,
  LOCAL_GROUP,
  LOCAL_RETRY_TOPIC,
  LOCAL_TOPIC,
  LocalConsumer,
} from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { freePort } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { publishToLog } from '../../local/traffic/publishToLog.js';
import { runReconciliationLocally } from '../../local/workflows/reconciliation.js';

const PARTITIONS = 6;
const SETTINGS = {
  settleSeconds: 0,
  pageSize: 97,
  scanCount: 50,
  sweepKeysPerStep: 300,
  maxRangesPerShard: 5,
};
const FAST_RETRIES = {
  ReconcileIndex: 10,
  FindEventGaps: 10,
  SweepIndex: 10,
  ReplayGaps: 10,
  Plan: 10,
  Report: 10,
};

describe('reconciliation workflow (step-functions/reconciliation.asl.json) on real PostgreSQL and Redis', () => {
  let services: LocalDataServices;
  let dir: string;
  let log: LocalLog;
  let redisUrl: string;
  const traffic = generateTraffic({ events: 3_000, customers: 400, seed: 81, customerPrefix: 'recon' });

  const reconcile = () =>
    runReconciliationLocally({
      stream: log,
      shardMap: services.shardMap,
      redisUrl,
      settings: SETTINGS,
      retryIntervals: FAST_RETRIES,
    });

  const withRedis = async <T>(work: (redis: RedisClient) => Promise<T>): Promise<T> => {
    const redis = createRedisClient({ url: redisUrl }, () => undefined);
    await redis.connect();
    try {
      return await work(redis);
    } finally {
      redis.destroy();
    }
  };

  const consume = async () => {
    const local = await LocalConsumer.create({ stream: log, shardMap: services.shardMap, redisUrl });
    try {
      await local.start();
      await local.drain({ timeoutMillis: 60_000 });
    } finally {
      await local.close();
    }
  };

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'recon' });
    redisUrl = services.redis?.url ?? '';
    dir = await mkdtemp(join(tmpdir(), 'cdp-recon-'));
    log = await LocalLog.open(join(dir, 'log'));
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    await publishToLog(log, LOCAL_TOPIC, traffic);
    await consume();
    // Index writes the consumer could not make in time (a loaded machine) wait in its outbox for a later
    // invocation; one reconciliation leaves the index clean before the cases corrupt it on purpose.
    await reconcile();
  });

  afterAll(async () => {
    await services?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('repairs deleted, stale and extra index entries, reports their exact counts, and finds nothing the second time', async () => {
    // Prepare: a clean index, then deliberate corruption of disjoint customers.
    const expected = expectedState(traffic);
    expect(await indexMismatches(redisUrl, expected)).toEqual([]);
    const withEmail = [...expected].filter(([, c]) => c.email !== null).map(([id, c]) => ({ id, ...c }));
    const withPhone = [...expected].filter(([, c]) => c.phone !== null).map(([id, c]) => ({ id, ...c }));
    const emailDeleted = withEmail.slice(0, 7);
    const hashDeleted = withEmail.slice(7, 9);
    const phoneRepointed = withPhone
      .filter((c) => !withEmail.slice(0, 9).some((e) => e.id === c.id))
      .slice(0, 5);
    await withRedis(async (redis) => {
      for (const c of emailDeleted) await redis.del(`cdp:idx:email:${c.email}`);
      for (const c of hashDeleted) await redis.del(`cdp:idx:customer:${c.id}`);
      // Stale: the key points at another customer that never held the number.
      for (const c of phoneRepointed) await redis.set(`cdp:idx:phone:${c.phone}`, 'recon-0');
      // Extra: keys for values no row holds, one of them naming a customer that does not exist.
      await redis.set('cdp:idx:email:ghost-1@example.com', 'recon-1');
      await redis.set('cdp:idx:email:ghost-2@example.com', 'recon-2');
      await redis.set('cdp:idx:phone:+15550000001', 'recon-3');
      await redis.set('cdp:idx:email:nobody@example.com', 'recon-no-such-customer');
    });
    expect((await indexMismatches(redisUrl, expected)).length).toBeGreaterThan(0);

    // Act
    const first = await reconcile();
    const second = await reconcile();

    // Assess
    expect(first.result).toEqual({ status: 'SUCCEEDED', output: expect.anything() });
    expect(first.report?.totals).toEqual({
      missing: 9,
      stale: 5,
      extra: 4,
      conflicts: 0,
      repaired: 18,
      gapEvents: 0,
      replayed: 0,
      poison: 0,
    });
    expect(first.report?.shards.map((s) => s.rows).reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(
      expected.size,
    );
    const router = new ShardRouter(services.shardMap);
    const missingOn = (shardId: string) =>
      [...emailDeleted, ...hashDeleted].filter((c) => router.shardFor(c.id).id === shardId).length;
    for (const shard of first.report?.shards ?? []) expect(shard.missing).toBe(missingOn(shard.shardId));
    expect(first.invocations.SweepIndex).toBeGreaterThan(1);
    expect(first.invocations.ReplayGaps).toBeUndefined();
    expect(await indexMismatches(redisUrl, expected)).toEqual([]);
    await withRedis(async (redis) => {
      expect(await redis.get('cdp:idx:email:ghost-1@example.com')).toBeNull();
      expect(await redis.get('cdp:idx:email:nobody@example.com')).toBeNull();
    });
    expect(second.result.status).toBe('SUCCEEDED');
    expect(second.report?.totals).toEqual({
      missing: 0,
      stale: 0,
      extra: 0,
      conflicts: 0,
      repaired: 0,
      gapEvents: 0,
      replayed: 0,
      poison: 0,
    });
  });

  it('finds events the log holds but no shard applied, replays them through the retry topic, and finds no gap afterwards; poison is no gap', async () => {
    // Prepare: poison records and valid events reach the log and are committed without being applied,
    // as if lost between the log and the shards.
    const lost: Envelope[] = generateTraffic({
      events: 60,
      customers: 20,
      seed: 5,
      customerPrefix: 'recon-lost',
    });
    await log.append(LOCAL_TOPIC, [
      { key: 'recon-lost-0', value: 'not json' },
      { key: null, value: Buffer.from('{"eventId":"x"}') },
      { key: 'recon-lost-1', value: null },
    ]);
    await publishToLog(log, LOCAL_TOPIC, lost);
    for (let partition = 0; partition < PARTITIONS; partition += 1) {
      await log.commit(LOCAL_GROUP, LOCAL_TOPIC, partition, await log.endOffset(LOCAL_TOPIC, partition));
    }
    const retryEndBefore = await sumEnds(log, LOCAL_RETRY_TOPIC);

    // Act
    const found = await reconcile();
    await consume();
    const after = await reconcile();

    // Assess
    expect(found.result.status).toBe('SUCCEEDED');
    expect(found.report?.totals.gapEvents).toBe(60);
    expect(found.report?.totals.poison).toBe(3);
    expect(found.report?.totals.replayed).toBe(60);
    expect((await sumEnds(log, LOCAL_RETRY_TOPIC)) - retryEndBefore).toBe(60);
    const snapshot = await snapshotShards(services);
    const expected = expectedState([...traffic, ...lost]);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(snapshot.appliedEvents).toBe(traffic.length + lost.length);
    expect(await log.endOffset(LOCAL_DLQ_TOPIC, 0)).toBe(0);
    expect(after.result.status).toBe('SUCCEEDED');
    expect(after.report?.totals.gapEvents).toBe(0);
    expect(after.invocations.ReplayGaps).toBeUndefined();
    expect(await indexMismatches(redisUrl, expected)).toEqual([]);
  });

  it('records a shard that stays unreachable after its retries, reports the run incomplete and fails it', async () => {
    // Prepare: shard-2 points at a port nothing listens on; the other shards are healthy.
    const port = await freePort();
    const broken = parseShardMap({
      ...services.shardMap,
      shards: services.shardMap.shards.map((s) =>
        s.id === 'shard-2' ? { ...s, url: `postgres://127.0.0.1:${port}/nowhere` } : s,
      ),
    });

    // Act
    const run = await runReconciliationLocally({
      stream: log,
      shardMap: broken,
      redisUrl,
      settings: { ...SETTINGS, retries: 0 },
      retryIntervals: FAST_RETRIES,
    });

    // Assess: 1 attempt + 4 retries of the definition for shard-2, once for the others.
    expect(run.result).toEqual({
      status: 'FAILED',
      error: 'ReconciliationIncomplete',
      cause: expect.any(String),
    });
    expect(run.invocations.ReconcileIndex).toBe(3 + 5);
    expect(run.invocations.FindEventGaps).toBe(3 + 5);
    expect(run.report?.complete).toBe(false);
    expect(run.report?.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          step: 'reconcileIndex',
          shardId: 'shard-2',
          error: 'ShardUnavailableError',
        }),
        expect.objectContaining({
          step: 'findEventGaps',
          shardId: 'shard-2',
          error: 'ShardUnavailableError',
        }),
        expect.objectContaining({ step: 'sweepIndex', error: 'ShardUnavailableError' }),
      ]),
    );
    const brokenShard = run.report?.shards.find((s) => s.shardId === 'shard-2');
    expect(brokenShard).toMatchObject({ rows: null, missing: null, gapEvents: null });
    expect(run.report?.shards.filter((s) => s.rows !== null)).toHaveLength(3);
  });
});

async function sumEnds(log: LocalLog, topic: string): Promise<number> {
  let sum = 0;
  for (let p = 0; p < (await log.partitionsOf(topic)); p += 1) sum += await log.endOffset(topic, p);
  return sum;
}
