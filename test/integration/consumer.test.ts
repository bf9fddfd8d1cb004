import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredConsumer, wireConsumer } from '../../lambdas/consumer/dependencies.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { sleep } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { mskEvent, mskRecord, registered } from '../support/events.js';
import { MemoryDeadLetters } from '../support/memoryDeadLetters.js';

const TOPIC = 'customer-events.v1';
const batchOf = (envelopes: readonly Envelope[], firstOffset = 0, partition = 0) =>
  mskEvent(envelopes.map((e, i) => mskRecord(TOPIC, partition, firstOffset + i, e)));

describe('customer event consumer on real PostgreSQL (4 shards) and Redis', () => {
  let services: LocalDataServices;
  let wired: WiredConsumer;
  const deadLetters = new MemoryDeadLetters();

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'consumer-it' });
    wired = await wireConsumer({
      shardMap: services.shardMap,
      redis: { url: services.redis?.url ?? '' },
      deadLetters,
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'consumer' }),
      settings: { redisBreakerHalfOpenAfterMillis: 100 },
    });
  });

  afterAll(async () => {
    await wired?.close();
    await services?.stop();
  });

  it('has no duplicate effect when the same batch is delivered three times', async () => {
    const traffic = generateTraffic({ events: 300, customers: 60, seed: 1, customerPrefix: 'thrice' });
    const batch = batchOf(traffic);

    const responses = [];
    for (let i = 0; i < 3; i++) responses.push(await wired.consumer.handle(batch));

    expect(responses.every((r) => r.batchItemFailures.length === 0)).toBe(true);
    const snapshot = await snapshotShards(services);
    const expected = expectedState(traffic);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    const mine = [...snapshot.customers.keys()].filter((id) => id.startsWith('thrice-'));
    expect(mine).toHaveLength(60);
    // The Powertools idempotency store holds one completed record per event.
    const keys = await wired.redis?.keys('cdp-consumer*');
    expect(keys).toHaveLength(300);
    const record = JSON.parse((await wired.redis?.get(keys?.[0] ?? '')) ?? '{}');
    expect(record.status).toBe('COMPLETED');
  });

  it('routes each poison record to the dead-letter destination with its reason and applies its neighbours', async () => {
    const good = [registered('poison-neighbour-1', 0), registered('poison-neighbour-2', 0)];
    const records = [
      mskRecord(TOPIC, 1, 0, good[0] as Envelope),
      mskRecord(TOPIC, 1, 1, '!!not base64!!'),
      mskRecord(TOPIC, 1, 2, Buffer.from('{"eventId":').toString('base64')),
      mskRecord(TOPIC, 1, 3, { ...(good[1] as Envelope), type: 'customer.teleported' }),
      mskRecord(TOPIC, 1, 4, { ...(good[1] as Envelope), payload: { email: 'not-an-email' } }),
      mskRecord(TOPIC, 1, 5, Buffer.from('x'.repeat(70_000)).toString('base64')),
      mskRecord(TOPIC, 1, 6, good[1] as Envelope),
    ];
    deadLetters.letters.length = 0;

    const response = await wired.consumer.handle(mskEvent(records));

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((l) => [l.record.offset, l.reason])).toEqual([
      [1, 'bad-base64'],
      [2, 'bad-json'],
      [3, 'unknown-type'],
      [4, 'schema-violation'],
      [5, 'oversized'],
    ]);
    const snapshot = await snapshotShards(services);
    expect(snapshot.customers.get('poison-neighbour-1')?.email).toBe('poison-neighbour-1@example.com');
    expect(snapshot.customers.get('poison-neighbour-2')?.email).toBe('poison-neighbour-2@example.com');
  });

  it('keeps poison records for redelivery when the dead-letter destination is down', async () => {
    deadLetters.failing = true;
    try {
      const response = await wired.consumer.handle(mskEvent([mskRecord(TOPIC, 2, 7, 'bad!')]));

      expect(response.batchItemFailures).toEqual([
        { itemIdentifier: { partition: `${TOPIC}-2`, offset: 7 } },
      ]);
    } finally {
      deadLetters.failing = false;
    }
  });

  it('keeps exact effects while Redis is down and repairs the index once it is back', async () => {
    const redis = services.redis;
    if (!redis) throw new Error('redis expected');
    const traffic = generateTraffic({ events: 2_000, customers: 300, seed: 7, customerPrefix: 'outage' });
    const [before, during, after] = [traffic.slice(0, 600), traffic.slice(600, 1_400), traffic.slice(1_400)];

    const r1 = await wired.consumer.handle(batchOf(before, 0, 3));
    await redis.stop();
    const r2 = await wired.consumer.handle(batchOf(during, 600, 3));
    const r2again = await wired.consumer.handle(batchOf([...before, ...during], 0, 3));
    const whileDown = await snapshotShards(services);
    await redis.start();
    const r3 = await wired.consumer.handle(batchOf(after, 1_400, 3));
    let repaired = false;
    // Later invocations repair it; the client reconnects with backoff, so allow a few seconds.
    for (let step = 0; step < 100 && !repaired; step++) {
      repaired = await wired.consumer.repairIndex();
      if (!repaired) await sleep(100);
    }

    expect(repaired).toBe(true);
    for (const r of [r1, r2, r2again, r3]) expect(r.batchItemFailures).toEqual([]);
    expect(whileDown.outbox).toBeGreaterThan(0);
    const snapshot = await snapshotShards(services);
    const expected = expectedState(traffic);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(snapshot.outbox).toBe(0);
    expect(await indexMismatches(redis.url, expected)).toEqual([]);
  });
});
