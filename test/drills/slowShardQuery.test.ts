import { describe, expect, it } from 'vitest';
import { LATENCY_MILLIS, runSlowShard } from '../../local/drills/slowShard.js';

describe('one slow shard (2 s of latency injected on loopback)', () => {
  it('keeps the other shards at their normal p99 and opens, then closes, the slow shard breaker', async () => {
    // Act: a baseline, then 3 s of 2 s latency on one shard while both groups of customers are looked up.
    const result = await runSlowShard({ events: 2_000, seconds: 3 });

    // Assess: healthy shards unaffected; the slow shard fails fast while its breaker is open, then recovers.
    const { baseline, fastDuring, slowDuring, failFastMillis, failFastError, slowAfter } = result.details;
    expect(fastDuring.reasons).toEqual({});
    expect(fastDuring.unavailable).toBe(0);
    expect(fastDuring.other).toBe(0);
    expect(fastDuring.p99Millis).toBeLessThan(Math.max(3 * baseline.p99Millis, 50));
    expect(slowDuring.unavailable).toBeGreaterThan(0);
    expect(failFastError).toMatch(/circuit-open|timeout/);
    expect(failFastMillis).toBeLessThan(LATENCY_MILLIS);
    expect(slowAfter.unavailable).toBe(0);
    expect(slowAfter.found).toBeGreaterThan(0);
    expect(result.passed).toBe(true);
    console.log(
      `slow shard drill: baseline p50 ${baseline.p50Millis} ms p99 ${baseline.p99Millis} ms; other shards ` +
        `during p50 ${fastDuring.p50Millis} ms p99 ${fastDuring.p99Millis} ms; slow shard during: ` +
        `${slowDuring.unavailable} fast failures of ${slowDuring.calls}`,
    );
  });
});
