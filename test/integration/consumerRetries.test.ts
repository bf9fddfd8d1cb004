import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MSKRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsumerWiring,
  type WiredConsumer,
  wireConsumer,
} from '../../lambdas/consumer/dependencies.js';
import { parseShardMap, ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import { FaultProxy } from '../../local/faults/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { envelope, mskEvent, mskRecord } from '../support/events.js';
import { MemoryDeadLetters } from '../support/memoryDeadLetters.js';

const TOPIC = 'customer-events.v1';
const POISON = ['bad!', Buffer.from('{"eventId":').toString('base64'), Buffer.from('[]').toString('base64')];

const profileChanged = (customerId: string, at: number, givenName: string) =>
  envelope('customer.profile-changed', customerId, at, { givenName });

const offsetsOf = (letters: MemoryDeadLetters) => letters.letters.map((l) => l.record.offset);

describe('consumer retries on real PostgreSQL (2 shards) and Redis', () => {
  let services: LocalDataServices;
  const opened: WiredConsumer[] = [];
  const proxies: FaultProxy[] = [];

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 2, name: 'retries-it' });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((w) => w.close()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  afterAll(async () => {
    await services?.stop();
  });

  async function consumer(
    wiring: Partial<ConsumerWiring> = {},
  ): Promise<{ wired: WiredConsumer; letters: MemoryDeadLetters }> {
    const letters = new MemoryDeadLetters();
    const wired = await wireConsumer({
      shardMap: services.shardMap,
      redis: { url: services.redis?.url ?? '' },
      deadLetters: letters,
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'consumer' }),
      ...wiring,
      settings: {
        shardRetryAttempts: 1,
        shardRetryInitialDelayMillis: 10,
        shardRetryMaxDelayMillis: 20,
        ...wiring.settings,
      },
    });
    opened.push(wired);
    return { wired, letters };
  }

  async function proxyOf(port: number): Promise<FaultProxy> {
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port });
    proxies.push(proxy);
    return proxy;
  }

  it("shares the first record's result with a second record of the same id while the idempotency breaker is open", async () => {
    const redis = services.redis ?? expect.unreachable();
    const proxy = await proxyOf(redis.port);
    const { wired } = await consumer({
      redis: { url: proxy.via(redis.url) },
      settings: {
        redisDeadlineMillis: 300,
        redisBreakerThreshold: 3,
        redisBreakerHalfOpenAfterMillis: 60_000,
      },
    });
    const opener = generateTraffic({ events: 5, customers: 5, seed: 41, customerPrefix: 'opener' });
    const traffic = generateTraffic({ events: 300, customers: 60, seed: 42, customerPrefix: 'pairs' });
    const pairs = traffic.flatMap((e) => [e, e]).map((e, i) => mskRecord(TOPIC, 0, 5 + i, e));
    await proxy.hang();
    // Redis accepts the connection and never answers: the deadline fails every guard and opens the breaker.
    await wired.consumer.handle(mskEvent(opener.map((e, i) => mskRecord(TOPIC, 0, i, e))));

    const response = await wired.consumer.handle(mskEvent(pairs));

    expect(response.batchItemFailures).toEqual([]);
    expect(wired.consumer.totals).toMatchObject({ applied: 305, duplicates: 300, failed: 0 });
    const snapshot = await snapshotShards(services);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
  });

  it('writes each poison record to the dead-letter destination once although its batch is redelivered', async () => {
    const shard1 = services.shardMap.shards[1] ?? expect.unreachable();
    const proxy = await proxyOf(services.postgres.port);
    const shardMap = parseShardMap({
      version: 1,
      shards: services.shardMap.shards.map((s) =>
        s.id === shard1.id ? { ...s, url: proxy.via(s.url ?? '') } : s,
      ),
    });
    const { wired, letters } = await consumer({ shardMap });
    const traffic = generateTraffic({ events: 200, customers: 40, seed: 43, customerPrefix: 'redelivered' });
    const values: Array<(typeof traffic)[number] | string> = [...traffic];
    for (const [i, at] of [20, 90, 150, 199].entries())
      values.splice(at, 0, POISON[i % POISON.length] ?? 'bad!');
    const records: MSKRecord[] = values.map((value, offset) => mskRecord(TOPIC, 0, offset, value));
    await proxy.refuse();

    // Act: shard-1 refuses connections, so the event source redelivers from its lowest failed offset.
    const first = await wired.consumer.handle(mskEvent(records));
    const resumeAt = first.batchItemFailures[0]?.itemIdentifier.offset ?? expect.unreachable();
    await proxy.heal();
    const second = await wired.consumer.handle(mskEvent(records.filter((r) => r.offset >= resumeAt)));

    expect(second.batchItemFailures).toEqual([]);
    expect(offsetsOf(letters).sort((a, b) => a - b)).toEqual([20, 90, 150, 199]);
    const snapshot = await snapshotShards(services);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
  });

  it('dead-letters exactly the records the database rejects, with its reason, and applies the rest at once', async () => {
    const shard = services.shardMap.shards[0] ?? expect.unreachable();
    const admin = services.shardClient(shard.id);
    await admin.query(
      `ALTER TABLE customers ADD CONSTRAINT no_mallory CHECK (given_name IS DISTINCT FROM 'Mallory')`,
    );
    await admin.query(`CREATE FUNCTION refuse_trudy() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.given_name = 'Trudy' THEN
          RAISE EXCEPTION 'Trudy is not a storable name' USING ERRCODE = '22023';
        END IF;
        RETURN NEW;
      END $$`);
    await admin.query(
      'CREATE TRIGGER refuse_trudy BEFORE INSERT OR UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION refuse_trudy()',
    );
    await admin.close();
    // A breaker that opened after two failed transactions would fail every later batch of the shard.
    const { wired, letters } = await consumer({ settings: { shardBreakerThreshold: 2 } });
    const router = new ShardRouter(services.shardMap);
    const traffic = generateTraffic({ events: 400, customers: 80, seed: 44, customerPrefix: 'rejected' });
    const hostileOffsets: number[] = [];
    const batches = [0, 1, 2, 3].map((n) => {
      const valid = traffic.slice(n * 100, (n + 1) * 100);
      // Each hostile event belongs to a customer with valid events in the same shard transaction.
      const target = valid.find((e) => router.shardFor(e.customerId).id === shard.id)?.customerId ?? '';
      const values = [...valid];
      values.splice(30, 0, profileChanged(target, 100_000 + n, 'Mallory'));
      values.splice(60, 0, profileChanged(target, 200_000 + n, 'Trudy'));
      hostileOffsets.push(n * 102 + 30, n * 102 + 60);
      return values.map((e, i) => mskRecord(TOPIC, 1, n * 102 + i, e));
    });

    const responses = [];
    for (const batch of batches) responses.push(await wired.consumer.handle(mskEvent(batch)));

    expect(responses.map((r) => r.batchItemFailures)).toEqual([[], [], [], []]);
    expect(wired.consumer.totals).toMatchObject({ applied: 400, failed: 0, parked: 0 });
    expect(letters.letters.map((l) => [l.record.offset, l.reason])).toEqual(
      hostileOffsets.map((offset) => [offset, 'rejected-by-database']),
    );
    expect(letters.letters.map((l) => l.details)).toEqual(
      [0, 1, 2, 3].flatMap(() => [
        expect.stringMatching(/no_mallory/),
        expect.stringMatching(/Trudy is not/),
      ]),
    );
    const snapshot = await snapshotShards(services);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
  });
});
