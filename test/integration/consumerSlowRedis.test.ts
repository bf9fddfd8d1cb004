import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredConsumer, wireConsumer } from '../../lambdas/consumer/dependencies.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import { FaultProxy } from '../../local/faults/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { mskEvent, mskRecord } from '../support/events.js';
import { MemoryDeadLetters } from '../support/memoryDeadLetters.js';

const TOPIC = 'customer-events.v1';
const DEADLINE_MILLIS = 500;

describe('consumer with a Redis that stops answering (real PostgreSQL and Redis behind a fault proxy)', () => {
  let services: LocalDataServices;
  let proxy: FaultProxy;
  let wired: WiredConsumer;

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 2, name: 'slow-redis' });
    const redis = services.redis;
    if (!redis) throw new Error('redis expected');
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: redis.port });
    wired = await wireConsumer({
      shardMap: services.shardMap,
      redis: { url: proxy.via(redis.url) },
      deadLetters: new MemoryDeadLetters(),
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'consumer' }),
      settings: { redisDeadlineMillis: DEADLINE_MILLIS },
    });
  });

  afterAll(async () => {
    await wired?.close();
    await proxy?.close();
    await services?.stop();
  });

  it('applies a batch exactly once within its deadline when Redis accepts connections but never answers', async () => {
    const traffic = generateTraffic({ events: 400, customers: 80, seed: 5, customerPrefix: 'hung' });
    const warmup = traffic.slice(0, 100);
    const rest = traffic.slice(100);
    await wired.consumer.handle(mskEvent(warmup.map((e, i) => mskRecord(TOPIC, 0, i, e))));
    await proxy.hang();

    const started = performance.now();
    const response = await wired.consumer.handle(mskEvent(traffic.map((e, i) => mskRecord(TOPIC, 0, i, e))));
    const elapsed = performance.now() - started;
    await proxy.heal();

    // Assess: the database guard decided alone; nothing is applied twice and nothing is missing.
    expect(response.batchItemFailures).toEqual([]);
    expect(elapsed).toBeLessThan(10 * DEADLINE_MILLIS + 2_000);
    expect(wired.consumer.totals.idempotencyBypassed).toBeGreaterThan(0);
    const snapshot = await snapshotShards(services);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
    expect(snapshot.appliedEvents).toBe(warmup.length + rest.length);
  });
});
