import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredQueryService, wireQueryService } from '../../lambdas/query/dependencies.js';
import { describeError } from '../../lambdas/shared/describeError.js';
import { IndexWarmer, type QueryStats, type WarmupProgress } from '../../lambdas/shared/query/index.js';
import { type Lookup, loadCustomers, lookupsOf, truthOf } from '../../local/drills/support/customers.js';
import type { ExpectedCustomer } from '../../local/drills/support/expectedState.js';
import { indexMismatches } from '../../local/drills/support/shardState.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { waitFor } from '../../local/services/index.js';

const CUSTOMERS = 2_000;
const WORKERS = 20;
const FALLBACK_MAX_CONCURRENT = 8;
const WARMUP_RATE = 2_000;
const STEADY_MILLIS = 1_500;
const OUTAGE_MILLIS = 2_500;
const MIN_LOAD_MILLIS = 6_000;

type Phase = 'steady' | 'outage' | 'warm-up' | 'warm';

/** mulberry32: each worker draws its own reproducible sequence of look-ups. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const logger = new Logger({ serviceName: 'query', logLevel: 'SILENT' });
const metrics = new Metrics({ namespace: 'cdp', serviceName: 'query' });

describe('query drill: Redis outage under steady load, on real PostgreSQL (4 shards) and Redis', () => {
  let services: LocalDataServices;
  let wired: WiredQueryService;
  let truth: Map<string, ExpectedCustomer>;
  let lookups: Lookup[];

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'query-drill' });
    await loadCustomers(services, { events: 6_000, customers: CUSTOMERS, seed: 31, customerPrefix: 'drill' });
    truth = await truthOf(services);
    lookups = lookupsOf(truth, 100);
    wired = await wireQueryService({
      shardMap: services.shardMap,
      redis: { url: services.redis?.url ?? '', maxReconnectDelayMillis: 100 },
      logger,
      metrics,
      settings: {
        fallbackMaxConcurrent: FALLBACK_MAX_CONCURRENT,
        fallbackMaxQueued: 16,
        redisBreakerHalfOpenAfterMillis: 500,
      },
      maxConnectionsPerShard: 8,
    });
    const redis = wired.redis;
    if (redis === undefined) throw new Error('the drill needs Redis');
    await new IndexWarmer({ redis, shards: wired.shards, logger, metrics }).warmUntilComplete({
      ratePerSecond: 1_000_000,
    });
  });

  afterAll(async () => {
    await wired?.close();
    await services?.stop();
  });

  it('answers every look-up correctly while Redis is stopped and restarted empty, bounds the fallback load, and warms the index at the configured rate', async () => {
    const redisServer = services.redis;
    const redis = wired.redis;
    if (redisServer === undefined || redis === undefined) throw new Error('the drill needs Redis');
    const service = wired.service;
    const answered: Record<Phase, number> = { steady: 0, outage: 0, 'warm-up': 0, warm: 0 };
    const wrong: string[] = [];
    const failed: string[] = [];
    const statsAt: Partial<Record<Phase | 'end', QueryStats>> = {};
    const progress: WarmupProgress[] = [];
    let phase: Phase = 'steady';
    let running = true;

    const worker = async (w: number) => {
      const next = seeded(w + 1);
      while (running) {
        const lookup = lookups[Math.floor(next() * lookups.length)];
        if (lookup === undefined) continue;
        const current = phase;
        try {
          const found =
            lookup.kind === 'email'
              ? await service.findByEmail(lookup.value)
              : await service.findByPhone(lookup.value);
          answered[current] += 1;
          if ((found?.customerId ?? null) !== lookup.expected) {
            wrong.push(`${current}: ${lookup.value} gave ${found?.customerId}, expected ${lookup.expected}`);
          }
        } catch (error: unknown) {
          failed.push(`${current}: ${lookup.value}: ${describeError(error)}`);
        }
      }
    };
    const warmer = new IndexWarmer({ redis, shards: wired.shards, logger, metrics });
    const started = Date.now();

    // Act: steady load, Redis stopped, Redis back without its data, warm-up, steady load again.
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await sleep(STEADY_MILLIS);
    statsAt.steady = service.stats();
    phase = 'outage';
    await redisServer.stop();
    await sleep(OUTAGE_MILLIS);
    statsAt.outage = service.stats();
    phase = 'warm-up';
    await redisServer.start();
    const warmup = await warmer.warmUntilComplete({
      ratePerSecond: WARMUP_RATE,
      onProgress: (p) => progress.push(p),
    });
    statsAt['warm-up'] = service.stats();
    phase = 'warm';
    await sleep(Math.max(500, MIN_LOAD_MILLIS - (Date.now() - started)));
    running = false;
    await Promise.all(workers);
    await waitFor(() => service.stats().pendingWriteThrough === 0, {
      timeoutMs: 5_000,
      description: 'the entries found during the outage to be written through',
    });
    await service.idle();
    statsAt.end = service.stats();
    const loadMillis = Date.now() - started;

    // Assess: every look-up answered, and answered right, in every phase.
    const end = statsAt.end;
    const report = {
      loadMillis,
      answered,
      warmup,
      maxConcurrentFallbacks: end.maxConcurrentFallbacks,
      maxConcurrentFallbackQueriesPerShard: end.maxConcurrentFallbackQueriesPerShard,
      fallbackQueriesPerShard: end.fallbackQueriesPerShard,
      scatterGathers: end.scatterGathers,
      fallbackLookups: end.fallbackLookups,
      fallbackCacheHits: end.fallbackCacheHits,
      fallbackCoalesced: end.fallbackCoalesced,
      writtenThrough: end.writtenThrough,
      indexLookups: end.indexLookups,
    };
    console.log(`redis outage drill: ${JSON.stringify(report)}`);
    expect(failed).toEqual([]);
    expect(wrong).toEqual([]);
    for (const count of Object.values(answered)) expect(count).toBeGreaterThan(0);
    expect(loadMillis).toBeGreaterThanOrEqual(MIN_LOAD_MILLIS);

    // The outage was served by the fallback path, never with more scans in flight than the bulkhead allows.
    const outageScans = (statsAt.outage?.scatterGathers ?? 0) - (statsAt.steady?.scatterGathers ?? 0);
    expect(statsAt.steady?.scatterGathers).toBe(0);
    expect(outageScans).toBeGreaterThan(0);
    expect(end.fallbackRejected).toBe(0);
    expect(end.maxConcurrentFallbacks).toBeGreaterThan(1);
    expect(end.maxConcurrentFallbacks).toBeLessThanOrEqual(FALLBACK_MAX_CONCURRENT);
    for (const shard of services.shardMap.shards) {
      expect(end.fallbackQueriesPerShard[shard.id]).toBe(end.scatterGathers);
      expect(end.maxConcurrentFallbackQueriesPerShard[shard.id]).toBeLessThanOrEqual(FALLBACK_MAX_CONCURRENT);
    }

    // The warm-up wrote every customer once, no faster than the rate, and left an index that agrees.
    const expectedMillis = (truth.size / WARMUP_RATE) * 1_000;
    expect(warmup.complete).toBe(true);
    expect(warmup.written).toBe(truth.size);
    expect(warmup.elapsedMillis).toBeGreaterThanOrEqual(0.8 * expectedMillis);
    expect(progress.at(-1)).toMatchObject({ written: truth.size, complete: true });
    expect(progress.map((p) => p.written)).toEqual([...progress.map((p) => p.written)].sort((a, b) => a - b));
    expect(end.fallbackMode).toBe(false);
    expect(await indexMismatches(redisServer.url, truth)).toEqual([]);
  });
});
