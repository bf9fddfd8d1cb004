import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MSKRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WiredConsumer, wireConsumer } from '../../lambdas/consumer/dependencies.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { envelope, mskEvent, mskRecord, registered } from '../support/events.js';
import { MemoryDeadLetters } from '../support/memoryDeadLetters.js';

const TOPIC = 'customer-events.v1';

const profileChanged = (customerId: string, at: number, givenName: string, eventId?: string) =>
  envelope('customer.profile-changed', customerId, at, { givenName }, eventId);

/** `valid` on one partition from `firstOffset`, each hostile record at the offset its index names. */
function interleave(
  valid: readonly Envelope[],
  hostile: ReadonlyArray<[number, Envelope | string]>,
  partition: number,
  firstOffset = 0,
): MSKRecord[] {
  const values: Array<Envelope | string> = [...valid];
  for (const [at, value] of [...hostile].sort((a, b) => a[0] - b[0])) values.splice(at, 0, value);
  return values.map((value, i) => mskRecord(TOPIC, partition, firstOffset + i, value));
}

/** An envelope whose given name carries bytes that are not UTF-8, as a record value (base64). */
function withInvalidUtf8(customerId: string): string {
  const [before, after] = JSON.stringify(registered(customerId, 0)).split('"Given"') as [string, string];
  return Buffer.concat([
    Buffer.from(`${before}"Bad`),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(`Name"${after}`),
  ]).toString('base64');
}

describe('consumer with hostile records on real PostgreSQL (2 shards) and Redis', () => {
  let services: LocalDataServices;
  const opened: WiredConsumer[] = [];

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 2, name: 'hostile-it' });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((w) => w.close()));
  });

  afterAll(async () => {
    await services?.stop();
  });

  /** A fresh consumer (fresh breakers) on the shared shards and Redis. */
  async function consumer(): Promise<{ wired: WiredConsumer; letters: MemoryDeadLetters }> {
    const letters = new MemoryDeadLetters();
    const wired = await wireConsumer({
      shardMap: services.shardMap,
      redis: { url: services.redis?.url ?? '' },
      deadLetters: letters,
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'consumer' }),
      settings: { shardRetryAttempts: 2, shardRetryInitialDelayMillis: 10, shardRetryMaxDelayMillis: 50 },
    });
    opened.push(wired);
    return { wired, letters };
  }

  async function forgetIdempotencyKeys(wired: WiredConsumer): Promise<void> {
    const keys = (await wired.redis?.keys('cdp-consumer*')) ?? [];
    if (keys.length > 0) await wired.redis?.del(keys);
  }

  it('dead-letters values PostgreSQL cannot store with their reasons and applies their 500 neighbours at once', async () => {
    const { wired, letters } = await consumer();
    const traffic = generateTraffic({ events: 500, customers: 100, seed: 31, customerPrefix: 'unstorable' });
    const records = interleave(
      traffic,
      [
        [50, profileChanged('unstorable-1', 900, 'Nul\u0000Byte')],
        [150, profileChanged('unstorable-2', 900, 'a\ud800b')],
        [250, { ...registered('unstorable-year0', 0), occurredAt: '0000-06-30T12:00:00Z' }],
        [350, { ...registered('unstorable-year0-utc', 0), occurredAt: '0001-01-01T00:00:00+01:00' }],
      ],
      0,
    );

    const response = await wired.consumer.handle(mskEvent(records));

    expect(response.batchItemFailures).toEqual([]);
    expect(letters.letters.map((l) => [l.record.offset, l.reason])).toEqual([
      [50, 'schema-violation'],
      [150, 'schema-violation'],
      [250, 'schema-violation'],
      [350, 'schema-violation'],
    ]);
    expect(letters.letters.map((l) => l.details)).toEqual([
      expect.stringMatching(/^payload\.givenName: .*U\+0000/),
      expect.stringMatching(/^payload\.givenName: .*surrogate/),
      expect.stringMatching(/^occurredAt: /),
      expect.stringMatching(/^occurredAt: /),
    ]);
    const snapshot = await snapshotShards(services);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
    expect(snapshot.customers.has('unstorable-year0')).toBe(false);
  });

  it('recognises redelivered events whose ids arrive in upper case, or in the other case, as duplicates', async () => {
    const { wired } = await consumer();
    const traffic = generateTraffic({ events: 300, customers: 60, seed: 32, customerPrefix: 'upper' }).map(
      (e) => ({ ...e, eventId: e.eventId.toUpperCase() }),
    );
    const lower = traffic.map((e) => ({ ...e, eventId: e.eventId.toLowerCase() }));

    const first = await wired.consumer.handle(mskEvent(interleave(traffic, [], 1)));
    await forgetIdempotencyKeys(wired);
    const again = await wired.consumer.handle(mskEvent(interleave(traffic, [], 1)));
    const otherCase = await wired.consumer.handle(mskEvent(interleave(lower, [], 1, 300)));

    expect([first, again, otherCase].map((r) => r.batchItemFailures)).toEqual([[], [], []]);
    expect(wired.consumer.totals).toMatchObject({ applied: 300, duplicates: 600, failed: 0, parked: 0 });
    const snapshot = await snapshotShards(services);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
  });

  it('dead-letters an event id reused with another body as a conflict and keeps the first body', async () => {
    const { wired, letters } = await consumer();
    const first = profileChanged('reuse-1', 0, 'First');
    const reused = profileChanged('reuse-1', 5, 'Second', first.eventId);
    const reusedAgain = profileChanged('reuse-1', 9, 'Third', first.eventId);
    const inBatch = profileChanged('reuse-2', 0, 'Kept');
    const inBatchReused = profileChanged('reuse-2', 3, 'Dropped', inBatch.eventId);

    await wired.consumer.handle(mskEvent([mskRecord(TOPIC, 2, 0, first)]));
    // The idempotency store remembers the id; then, once it forgot, the database alone must tell.
    const remembered = await wired.consumer.handle(mskEvent([mskRecord(TOPIC, 2, 1, reused)]));
    await forgetIdempotencyKeys(wired);
    const forgotten = await wired.consumer.handle(mskEvent([mskRecord(TOPIC, 2, 2, reusedAgain)]));
    const sameBatch = await wired.consumer.handle(
      mskEvent([mskRecord(TOPIC, 3, 0, inBatch), mskRecord(TOPIC, 3, 1, inBatchReused)]),
    );
    const duplicate = await wired.consumer.handle(mskEvent([mskRecord(TOPIC, 2, 3, first)]));

    expect([remembered, forgotten, sameBatch, duplicate].map((r) => r.batchItemFailures)).toEqual([
      [],
      [],
      [],
      [],
    ]);
    expect(letters.letters.map((l) => [l.record.partition, l.record.offset, l.reason])).toEqual([
      [2, 1, 'conflict'],
      [2, 2, 'conflict'],
      [3, 1, 'conflict'],
    ]);
    expect(letters.letters[0]?.details).toContain(first.eventId);
    const snapshot = await snapshotShards(services);
    expect(snapshot.customers.get('reuse-1')).toMatchObject({ given_name: 'First', event_count: 1 });
    expect(snapshot.customers.get('reuse-2')).toMatchObject({ given_name: 'Kept', event_count: 1 });
  });

  it('dead-letters an event id reused for a customer of another shard, in one batch and in a later one', async () => {
    const { wired, letters } = await consumer();
    const router = new ShardRouter(services.shardMap);
    const onShard = (shard: number, prefix: string) =>
      Array.from({ length: 50 }, (_, i) => `${prefix}-${i}`).find(
        (id) => router.shardFor(id).id === services.shardMap.shards[shard]?.id,
      ) ?? expect.unreachable();
    const [home, away, later] = [onShard(0, 'home'), onShard(1, 'away'), onShard(1, 'later')];
    const first = profileChanged(home, 0, 'Home');
    const sameBatch = profileChanged(away, 1, 'Away', first.eventId);
    const laterBatch = profileChanged(later, 2, 'Later', first.eventId);

    const one = await wired.consumer.handle(
      mskEvent([mskRecord(TOPIC, 5, 0, first), mskRecord(TOPIC, 5, 1, sameBatch)]),
    );
    const two = await wired.consumer.handle(mskEvent([mskRecord(TOPIC, 5, 2, laterBatch)]));

    expect([one, two].map((r) => r.batchItemFailures)).toEqual([[], []]);
    expect(letters.letters.map((l) => [l.record.offset, l.reason])).toEqual([
      [1, 'conflict'],
      [2, 'conflict'],
    ]);
    const snapshot = await snapshotShards(services);
    expect(snapshot.customers.get(home)).toMatchObject({ given_name: 'Home' });
    expect(snapshot.customers.has(away)).toBe(false);
    expect(snapshot.customers.has(later)).toBe(false);
  });

  it('dead-letters a record whose strings are not UTF-8 instead of storing U+FFFD', async () => {
    const { wired, letters } = await consumer();
    const neighbours = [registered('utf8-before', 0), registered('utf8-after', 0)];
    const records = interleave(neighbours, [[1, withInvalidUtf8('utf8-bad')]], 4);

    const response = await wired.consumer.handle(mskEvent(records));

    expect(response.batchItemFailures).toEqual([]);
    expect(letters.letters.map((l) => [l.record.offset, l.reason])).toEqual([[1, 'bad-utf8']]);
    const snapshot = await snapshotShards(services);
    expect(snapshot.customers.has('utf8-bad')).toBe(false);
    expect(snapshot.customers.has('utf8-before')).toBe(true);
    expect(snapshot.customers.has('utf8-after')).toBe(true);
  });
});
