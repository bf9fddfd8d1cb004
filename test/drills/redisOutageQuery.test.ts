import { describe, expect, it } from 'vitest';
import {
  FALLBACK_MAX_CONCURRENT,
  MIN_LOAD_MILLIS,
  runRedisOutage,
  WARMUP_RATE,
} from '../../local/drills/redisOutage.js';

const CUSTOMERS = 2_000;

describe('query drill: Redis outage under steady load, on real PostgreSQL (4 shards) and Redis', () => {
  it('answers every look-up correctly while Redis is stopped and restarted empty, bounds the fallback load, and warms the index at the configured rate', async () => {
    // Act: steady load, Redis stopped for 2.5 s, Redis back without its data, warm-up, steady load again.
    const result = await runRedisOutage({ events: 3 * CUSTOMERS, seconds: 2.5 });

    // Assess: every look-up answered, and answered right, in every phase.
    const { answered, failed, wrong, statsAt, warmup, progress, customers, loadMillis } = result.details;
    const end = statsAt.end;
    console.log(`redis outage drill: ${JSON.stringify({ loadMillis, answered, warmup, end })}`);
    expect(failed).toEqual([]);
    expect(wrong).toEqual([]);
    for (const count of Object.values(answered)) expect(count).toBeGreaterThan(0);
    expect(loadMillis).toBeGreaterThanOrEqual(MIN_LOAD_MILLIS);

    // The outage was served by the fallback path, never with more scans in flight than the bulkhead allows.
    const outageScans = (statsAt.outage?.scatterGathers ?? 0) - (statsAt.steady?.scatterGathers ?? 0);
    expect(statsAt.steady?.scatterGathers).toBe(0);
    expect(outageScans).toBeGreaterThan(0);
    expect(end?.fallbackRejected).toBe(0);
    expect(end?.maxConcurrentFallbacks).toBeGreaterThan(1);
    expect(end?.maxConcurrentFallbacks).toBeLessThanOrEqual(FALLBACK_MAX_CONCURRENT);
    for (const shard of result.details.shardIds) {
      expect(end?.fallbackQueriesPerShard[shard]).toBe(end?.scatterGathers);
      expect(end?.maxConcurrentFallbackQueriesPerShard[shard]).toBeLessThanOrEqual(FALLBACK_MAX_CONCURRENT);
    }

    // The warm-up wrote every customer once, no faster than the rate, and left an index that agrees.
    const expectedMillis = (customers / WARMUP_RATE) * 1_000;
    expect(warmup.complete).toBe(true);
    expect(warmup.written).toBe(customers);
    expect(warmup.elapsedMillis).toBeGreaterThanOrEqual(0.8 * expectedMillis);
    expect(progress.at(-1)).toMatchObject({ written: customers, complete: true });
    expect(progress.map((p) => p.written)).toEqual([...progress.map((p) => p.written)].sort((a, b) => a - b));
    expect(end?.fallbackMode).toBe(false);
    expect(result.details.indexMismatches).toEqual([]);
    expect(result.detectSeconds).not.toBeNull();
    expect(result.passed).toBe(true);
  });
});
