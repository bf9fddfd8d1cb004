import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_GROUP, LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import { runConsumerCrash } from '../../local/drills/consumerCrash.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { publishToLog } from '../../local/traffic/publishToLog.js';

const PARTITIONS = 12;

describe('consumer drills on real PostgreSQL (4 shards) and Redis', () => {
  let services: LocalDataServices;
  let dir: string;

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'drill' });
    dir = await mkdtemp(join(tmpdir(), 'cdp-drill-'));
  });

  afterAll(async () => {
    await services?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies 20,000 events over 4 shards with exactly one effect each', async () => {
    const log = await LocalLog.open(join(dir, 'exact'));
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({ events: 20_000, customers: 2_000, seed: 11, customerPrefix: 'exact' });
    await publishToLog(log, LOCAL_TOPIC, traffic);
    const local = await LocalConsumer.create({
      stream: log,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
    });

    await local.drain({ timeoutMillis: 120_000 });
    await local.close();

    const snapshot = await snapshotShards(services);
    const expected = expectedState(traffic);
    const mine = [...snapshot.customers].filter(([id]) => id.startsWith('exact-'));
    expect(mine).toHaveLength(2_000);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(20_000);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(await indexMismatches(services.redis?.url ?? '', expected)).toEqual([]);
    expect(Object.values(await log.lag(LOCAL_GROUP, LOCAL_TOPIC)).every((lag) => lag === 0)).toBe(true);
  });

  it('loses and duplicates nothing when the consumer process is SIGKILLed mid-batch and restarted', async () => {
    // Act: the drill kills the consumer while batches are in flight, then starts a new one.
    const result = await runConsumerCrash({ events: 12_000 });

    // Assess: the crash was mid-load; every event has exactly one effect, the index agrees.
    expect(result.details.remainingAtCrash).toBeGreaterThan(0);
    expect(result.details.customers).toBe(1_500);
    expect(result.details.effects).toBe(12_000);
    expect(result.details.wrongCustomers).toEqual([]);
    expect(result.details.indexMismatches).toEqual([]);
    expect(result.counts).toMatchObject({ applied: 12_000, lost: 0, duplicateEffects: 0 });
    expect(result.detectSeconds).not.toBeNull();
    expect(result.passed).toBe(true);
  });
});
