import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredQueryService, wireQueryService } from '../../lambdas/query/dependencies.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import {
  CustomerQueryService,
  IndexWarmer,
  OverloadedError,
  type QuerySettings,
  type QueryStats,
  ShardUnavailableError,
  type WarmupProgress,
} from '../../lambdas/shared/query/index.js';
import type { SqlClient } from '../../lambdas/shared/sql/index.js';
import { loadCustomers, truthOf } from '../../local/drills/support/customers.js';
import type { ExpectedCustomer } from '../../local/drills/support/expectedState.js';
import { indexMismatches } from '../../local/drills/support/shardState.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { waitFor } from '../../local/services/index.js';

const logger = new Logger({ serviceName: 'query', logLevel: 'SILENT' });
const metrics = new Metrics({ namespace: 'cdp', serviceName: 'query' });

/** A real lock that makes every read of one shard's customers wait until `release` is called. */
async function lockCustomers(services: LocalDataServices, shardId: string) {
  const client = services.shardClient(shardId);
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked: () => void = () => undefined;
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const held = client
    .transaction(async (tx) => {
      await tx.query('LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
      locked();
      await released;
    })
    .finally(() => client.close());
  await isLocked;
  return {
    async release() {
      release();
      await held;
    },
  };
}

describe('customer queries on real PostgreSQL (4 shards) and Redis', () => {
  let services: LocalDataServices;
  let wired: WiredQueryService;
  let truth: Map<string, ExpectedCustomer>;
  let traffic: Envelope[];
  const owned: SqlClient[] = [];

  /** A service over the same shards without Redis: every global look-up takes the fallback path. */
  const fallbackOnly = (settings: Partial<QuerySettings>, now?: () => number) =>
    new CustomerQueryService({
      router: wired.router,
      shards: wired.shards,
      logger,
      metrics,
      settings,
      ...(now ? { now } : {}),
    });

  const customersWith = (predicate: (c: ExpectedCustomer, id: string) => boolean) =>
    [...truth].filter(([id, c]) => predicate(c, id));

  /** The `index`-th customer (in shard order) that satisfies `predicate`. */
  const customer = (
    predicate: (c: ExpectedCustomer, id: string) => boolean,
    index = 0,
  ): [string, ExpectedCustomer] => {
    const found = customersWith(predicate)[index];
    if (found === undefined) throw new Error('the traffic has too few such customers');
    return found;
  };

  /** The first customer whose event types, in time order, satisfy `predicate`. */
  const customerWhoseLastEvent = (predicate: (types: readonly string[]) => boolean): string => {
    const types = new Map<string, string[]>();
    const inTimeOrder = [...traffic].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    for (const e of inTimeOrder) types.set(e.customerId, [...(types.get(e.customerId) ?? []), e.type]);
    const found = [...types].find(([, list]) => predicate(list));
    if (found === undefined) throw new Error('the traffic has no such customer');
    return found[0];
  };

  const onShard = (shardId: string) => (_: ExpectedCustomer, id: string) =>
    wired.router.shardFor(id).id === shardId;

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'query' });
    traffic = await loadCustomers(services, {
      events: 6_000,
      customers: 2_000,
      seed: 7,
      customerPrefix: 'query',
    });
    truth = await truthOf(services);
    wired = await wireQueryService({
      shardMap: services.shardMap,
      redis: { url: services.redis?.url ?? '', maxReconnectDelayMillis: 100 },
      logger,
      metrics,
      maxConnectionsPerShard: 8,
    });
    if (wired.redis === undefined) throw new Error('the tests need Redis');
    const warmer = new IndexWarmer({ redis: wired.redis, shards: wired.shards, logger, metrics });
    await warmer.warmUntilComplete({ ratePerSecond: 1_000_000 });
  });

  afterAll(async () => {
    await wired?.close();
    await Promise.all(owned.map((c) => c.close()));
    await services?.stop();
  });

  it('finds customers by id, email and phone through the index exactly as the shards hold them', async () => {
    const sample = customersWith((c) => c.email !== null && c.phone !== null).slice(0, 100);
    const before = wired.service.stats();

    for (const [id, c] of sample) {
      const byId = await wired.service.getById(id);
      const byEmail = await wired.service.findByEmail(c.email?.toUpperCase() ?? '');
      const byPhone = await wired.service.findByPhone(c.phone ?? '');

      expect(byId).toMatchObject({ customerId: id, email: c.email, phone: c.phone, givenName: c.given_name });
      expect(byEmail).toEqual(byId);
      expect(byPhone).toEqual(byId);
    }
    const after = wired.service.stats();
    expect(sample).toHaveLength(100);
    expect(after.indexLookups - before.indexLookups).toBe(200);
    expect(after.scatterGathers - before.scatterGathers).toBe(0);
  });

  it('answers "not found" from a complete index without asking the shards', async () => {
    const before = wired.service.stats();

    const byEmail = await wired.service.findByEmail('nobody@example.org');
    const byPhone = await wired.service.findByPhone('+15550000000');
    const byId = await wired.service.getById('query-does-not-exist');

    expect([byEmail, byPhone, byId]).toEqual([null, null, null]);
    const after = wired.service.stats();
    expect(after.indexMisses - before.indexMisses).toBe(2);
    expect(after.scatterGathers - before.scatterGathers).toBe(0);
  });

  it('shows an erased customer by id as erased without personal data, and facts recorded since as data', async () => {
    const erasedLast = customerWhoseLastEvent((types) => types.at(-1) === 'customer.erased');
    const changedSince = customerWhoseLastEvent(
      (types) => types.includes('customer.erased') && types.at(-1) === 'customer.email-changed',
    );

    const erased = await wired.service.getById(erasedLast);
    const back = await wired.service.getById(changedSince);

    expect(erased).toEqual({
      customerId: erasedLast,
      email: null,
      phone: null,
      givenName: null,
      familyName: null,
      address: null,
      registeredAt: null,
      erased: true,
    });
    expect(back).toMatchObject({
      customerId: changedSince,
      email: truth.get(changedSince)?.email,
      erased: false,
    });
    expect(back?.email).not.toBeNull();
    expect(await wired.service.findByEmail(back?.email ?? '')).toEqual(back);
  });

  it('answers a stale index entry from the shards and repairs it by write-through', async () => {
    const withEmail = (c: ExpectedCustomer) => c.email !== null && c.phone !== null;
    const [ownerId, owner] = customer(withEmail, 0);
    const [otherId] = customer(withEmail, 1);
    const redis = createClient({ url: services.redis?.url ?? '' });
    await redis.connect();
    try {
      await redis.set(`cdp:idx:email:${owner.email}`, otherId);
      await redis.set('cdp:idx:phone:+15559999999', otherId);
      const before = wired.service.stats();

      const found = await wired.service.findByEmail(owner.email ?? '');
      const ghost = await wired.service.findByPhone('+15559999999');

      expect(found?.customerId).toBe(ownerId);
      expect(ghost).toBeNull();
      expect(await redis.get(`cdp:idx:email:${owner.email}`)).toBe(ownerId);
      expect(await redis.exists('cdp:idx:phone:+15559999999')).toBe(0);
      expect(wired.service.stats().staleIndexEntries - before.staleIndexEntries).toBe(2);
      expect(await wired.service.findByEmail(owner.email ?? '')).toMatchObject({ customerId: ownerId });
      expect(wired.service.stats().staleIndexEntries - before.staleIndexEntries).toBe(2);
    } finally {
      redis.destroy();
    }
  });

  it('reuses a fallback answer until its TTL, and "not found" for the shorter negative TTL', async () => {
    let now = 1_000_000;
    const service = fallbackOnly(
      { fallbackCacheTtlMillis: 10_000, fallbackCacheNegativeTtlMillis: 2_000 },
      () => now,
    );
    const [id, c] = customer((x) => x.email !== null);
    const scans = () => service.stats().scatterGathers;

    expect((await service.findByEmail(c.email ?? ''))?.customerId).toBe(id);
    expect(await service.findByEmail('nobody@example.org')).toBeNull();
    expect(scans()).toBe(2);

    now += 1_999;
    expect((await service.findByEmail(c.email ?? ''))?.customerId).toBe(id);
    expect(await service.findByEmail('nobody@example.org')).toBeNull();
    expect(scans()).toBe(2);

    now += 2;
    expect(await service.findByEmail('nobody@example.org')).toBeNull();
    expect((await service.findByEmail(c.email ?? ''))?.customerId).toBe(id);
    expect(scans()).toBe(3);

    now += 8_000;
    expect((await service.findByEmail(c.email ?? ''))?.customerId).toBe(id);
    expect(scans()).toBe(4);
    expect(service.stats()).toMatchObject({
      fallbackLookups: 7,
      fallbackCacheHits: 3,
      fallbackCacheExpired: 2,
      fallbackQueriesPerShard: { 'shard-0': 4, 'shard-1': 4, 'shard-2': 4, 'shard-3': 4 },
    });
  });

  it('sheds fallback look-ups beyond the bulkhead and its queue with OverloadedError', async () => {
    const service = fallbackOnly({
      fallbackMaxConcurrent: 1,
      fallbackMaxQueued: 1,
      shardQueryTimeoutMillis: 10_000,
    });
    const emails = customersWith((c) => c.email !== null)
      .slice(0, 4)
      .map(([id, c]) => ({ id, email: c.email ?? '' }));
    const lock = await lockCustomers(services, 'shard-0');

    const lookups = emails.map(({ email }) => service.findByEmail(email));
    const shed = await Promise.allSettled(lookups.slice(2));
    await lock.release();
    const answered = await Promise.all(lookups.slice(0, 2));

    for (const result of shed) {
      expect(result.status).toBe('rejected');
      if (result.status === 'rejected') {
        expect(result.reason).toBeInstanceOf(OverloadedError);
        expect(result.reason).toMatchObject({ retriable: true, retryAfterSeconds: 1 });
      }
    }
    expect(answered.map((c) => c?.customerId)).toEqual(emails.slice(0, 2).map((e) => e.id));
    expect(service.stats()).toMatchObject({ fallbackRejected: 2, maxConcurrentFallbacks: 1 });
  });

  it('reports a shard it cannot ask instead of "not found", and still answers from the other shards', async () => {
    const service = fallbackOnly({ shardQueryTimeoutMillis: 300, shardRetries: 0 });
    const [elsewhereId, elsewhere] = customer((c, id) => c.email !== null && !onShard('shard-1')(c, id));
    const [lockedId] = customer(onShard('shard-1'));
    const lock = await lockCustomers(services, 'shard-1');
    try {
      const [absent, byId, found] = await Promise.allSettled([
        service.findByEmail('nobody-at-all@example.org'),
        service.getById(lockedId),
        service.findByEmail(elsewhere.email ?? ''),
      ]);

      expect(absent).toMatchObject({ status: 'rejected', reason: expect.any(ShardUnavailableError) });
      expect(absent).toMatchObject({ reason: { shardIds: ['shard-1'], reason: 'timeout', retriable: true } });
      expect(byId).toMatchObject({
        status: 'rejected',
        reason: { shardId: 'shard-1', retryAfterSeconds: 1 },
      });
      expect(found).toMatchObject({ status: 'fulfilled', value: { customerId: elsewhereId } });
    } finally {
      await lock.release();
    }
  });

  it("uses the client that replaced a shard's client from the next call on", async () => {
    const shards = new Map(services.shardMap.shards.map((s) => [s.id, services.shardClient(s.id)] as const));
    owned.push(...shards.values());
    const service = new CustomerQueryService({ router: wired.router, shards, logger, metrics });
    const [id, c] = customer((x, xid) => x.email !== null && onShard('shard-2')(x, xid));
    const replaced = shards.get('shard-2');
    expect((await service.getById(id))?.customerId).toBe(id);

    const replacement = services.shardClient('shard-2');
    owned.push(replacement);
    shards.set('shard-2', replacement);
    await replaced?.close();
    owned.splice(owned.indexOf(replaced as SqlClient), 1);

    expect(await service.getById(id)).toMatchObject({ customerId: id, email: c.email });
  });

  it('bypasses a Redis that hangs once its breaker opens, answering from the shards, and uses it again after', async () => {
    const redis = wired.redis;
    if (redis === undefined) throw new Error('the test needs Redis');
    const service = new CustomerQueryService({
      router: wired.router,
      shards: wired.shards,
      redis,
      logger,
      metrics,
      settings: { redisTimeoutMillis: 250, redisBreakerThreshold: 2, redisBreakerHalfOpenAfterMillis: 500 },
    });
    const sample = customersWith((c) => c.email !== null).slice(0, 10);
    const pauser = createClient({ url: services.redis?.url ?? '' });
    await pauser.connect();
    try {
      // Redis holds every client's commands for 2 s: a hanging dependency, not a dead one.
      await pauser.sendCommand(['CLIENT', 'PAUSE', '2000', 'ALL']);
      const started = Date.now();
      const during = [];
      for (const [, c] of sample) during.push(await service.findByEmail(c.email ?? ''));
      const elapsed = Date.now() - started;
      const bypassed = service.stats();
      await waitFor(
        async () => {
          await service.findByEmail(sample[0]?.[1].email ?? '');
          return !service.stats().fallbackMode;
        },
        { timeoutMs: 10_000, intervalMs: 100, description: 'the index to be used again' },
      );

      expect(during.map((c) => c?.customerId)).toEqual(sample.map(([id]) => id));
      // Two look-ups wait for the Redis timeout; the breaker then skips Redis without waiting.
      expect(elapsed).toBeLessThan(sample.length * 250);
      expect(bypassed).toMatchObject({ fallbackMode: true, indexLookups: 0, scatterGathers: 10 });
      expect(service.stats().indexLookups).toBeGreaterThan(0);
    } finally {
      pauser.destroy();
    }
  });

  it('warms an emptied index in paced steps that stop on abort and resume from where they stopped', async () => {
    const redis = wired.redis;
    if (redis === undefined) throw new Error('the test needs Redis');
    await redis.flushAll();
    const warmer = new IndexWarmer({ redis, shards: wired.shards, logger, metrics });
    const stop = new AbortController();
    const steps: WarmupProgress[] = [];

    const first = await warmer.warmUntilComplete({
      ratePerSecond: 1_000,
      signal: stop.signal,
      onProgress: (p) => {
        steps.push(p);
        if (p.written >= 400) stop.abort();
      },
    });
    const second = await warmer.warmUntilComplete({ ratePerSecond: 1_000_000 });

    // 1,000/s in steps of 100 ms: 25 customers of each of the 4 shards per step.
    expect(steps.map((p) => p.step)).toEqual([100, 100, 100, 100]);
    expect(first).toMatchObject({ complete: false, written: 400, steps: 4 });
    expect(first.elapsedMillis).toBeGreaterThanOrEqual(300);
    expect(second.complete).toBe(true);
    expect(first.written + second.written).toBe(truth.size);
    expect(await indexMismatches(services.redis?.url ?? '', truth)).toEqual([]);
    await expect(warmer.warmUntilComplete({ ratePerSecond: 0 })).rejects.toBeInstanceOf(RangeError);
  });

  it('writes answers found while Redis was down through to the index once Redis is back', async () => {
    const [downId, down] = customer((c) => c.email !== null, 10);
    const [laterId, later] = customer((c) => c.email !== null, 11);
    const redisServer = services.redis;
    const redis = wired.redis;
    if (redisServer === undefined || redis === undefined) throw new Error('the test needs Redis');
    const before: QueryStats = wired.service.stats();

    await redisServer.stop();
    await waitFor(() => !redis.isReady, { timeoutMs: 5_000, description: 'the client to notice' });
    const duringOutage = await wired.service.findByEmail(down.email ?? '');
    const pendingDuringOutage = wired.service.stats().pendingWriteThrough;
    await redisServer.start();
    await waitFor(() => redis.isReady, { timeoutMs: 10_000, description: 'the client to reconnect' });
    const flushed = await wired.service.flushWriteThrough();
    const afterRestart = await wired.service.findByEmail(later.email ?? '');

    expect(duringOutage?.customerId).toBe(downId);
    expect(pendingDuringOutage).toBe(1);
    expect(flushed).toBe(1);
    expect(afterRestart?.customerId).toBe(laterId);
    const check = createClient({ url: redisServer.url });
    await check.connect();
    try {
      expect(await check.get(`cdp:idx:email:${down.email}`)).toBe(downId);
      expect(await check.get(`cdp:idx:email:${later.email}`)).toBe(laterId);
    } finally {
      check.destroy();
    }
    const after = wired.service.stats();
    expect(after.fallbackMode).toBe(false);
    expect(after.scatterGathers - before.scatterGathers).toBe(2);
    expect(after.writtenThrough - before.writtenThrough).toBe(2);
  });
});
