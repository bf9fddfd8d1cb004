import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredQueryService, wireQueryService } from '../../lambdas/query/dependencies.js';
import { ShardUnavailableError } from '../../lambdas/shared/query/index.js';
import { parseShardMap, ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { loadCustomers } from '../../local/drills/support/customers.js';
import { FaultProxy } from '../../local/faults/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { sleep } from '../../local/services/index.js';

const SLOW_SHARD = 'shard-3';
const LATENCY_MILLIS = 2_000;

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

describe('one slow shard (2 s of latency injected on loopback)', () => {
  let services: LocalDataServices;
  let proxy: FaultProxy;
  let wired: WiredQueryService;
  let router: ShardRouter;
  let ids: { fast: string[]; slow: string[] };

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'slow-shard' });
    const traffic = await loadCustomers(services, {
      events: 2_000,
      customers: 800,
      seed: 17,
      customerPrefix: 'slow',
    });
    const slow = services.shardMap.shards.find((s) => s.id === SLOW_SHARD);
    const url = new URL(slow?.url ?? '');
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(url.port) });
    const shardMap = parseShardMap({
      ...services.shardMap,
      shards: services.shardMap.shards.map((s) =>
        s.id === SLOW_SHARD ? { ...s, url: proxy.via(s.url ?? '') } : s,
      ),
    });
    router = new ShardRouter(shardMap);
    wired = await wireQueryService({
      shardMap,
      logger: new Logger({ serviceName: 'query', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'query' }),
      settings: { shardQueryTimeoutMillis: 500, shardBreakerHalfOpenAfterMillis: 500 },
    });
    const customers = [...new Set(traffic.map((e) => e.customerId))];
    ids = {
      fast: customers.filter((c) => router.shardFor(c).id !== SLOW_SHARD),
      slow: customers.filter((c) => router.shardFor(c).id === SLOW_SHARD),
    };
  });

  afterAll(async () => {
    await wired?.close();
    await proxy?.close();
    await services?.stop();
  });

  /** Look-ups by id for `duration`, from `workers` concurrent callers; returns latencies and outcomes. */
  async function load(customerIds: string[], durationMillis: number, workers = 8) {
    const latencies: number[] = [];
    const outcomes = { found: 0, unavailable: 0, other: 0 };
    const reasons = new Map<string, number>();
    const until = performance.now() + durationMillis;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let i = w; performance.now() < until; i += workers) {
          const id = customerIds[i % customerIds.length] ?? '';
          const started = performance.now();
          try {
            if (await wired.service.getById(id)) outcomes.found += 1;
            else outcomes.other += 1;
          } catch (error: unknown) {
            if (error instanceof ShardUnavailableError) {
              outcomes.unavailable += 1;
              const key = `${error.shardIds.join(',')}:${error.reason}`;
              reasons.set(key, (reasons.get(key) ?? 0) + 1);
              // A caller backs off after a 503 instead of spinning on it.
              await sleep(20);
            } else outcomes.other += 1;
          }
          latencies.push(performance.now() - started);
        }
      }),
    );
    return { latencies, outcomes, reasons: Object.fromEntries(reasons) };
  }

  it('keeps the other shards at their normal p99 and opens, then closes, the slow shard breaker', async () => {
    // Prepare: the normal latency of the healthy shards.
    const baseline = await load(ids.fast, 1_500);

    // Act: 2 s of latency on one shard while both groups of customers are looked up.
    proxy.setLatency(LATENCY_MILLIS);
    const [fastDuring, slowDuring] = await Promise.all([load(ids.fast, 3_000), load(ids.slow, 3_000, 4)]);
    const failFast = performance.now();
    await expect(wired.service.getById(ids.slow[0] ?? '')).rejects.toThrow(/circuit-open|timeout/);
    const failFastMillis = performance.now() - failFast;
    proxy.setLatency(0);
    // Reads already in flight through the proxy keep their delay (up to 2 x 2 s): let them drain.
    await sleep(4_500);
    const slowAfter = await load(ids.slow, 1_000, 4);

    // Assess: healthy shards unaffected; the slow shard fails fast while its breaker is open, then recovers.
    expect(fastDuring.reasons).toEqual({});
    expect(fastDuring.outcomes.unavailable).toBe(0);
    expect(fastDuring.outcomes.other).toBe(0);
    expect(percentile(fastDuring.latencies, 99)).toBeLessThan(
      Math.max(3 * percentile(baseline.latencies, 99), 50),
    );
    expect(slowDuring.outcomes.unavailable).toBeGreaterThan(0);
    expect(failFastMillis).toBeLessThan(LATENCY_MILLIS);
    expect(slowAfter.outcomes.unavailable).toBe(0);
    expect(slowAfter.outcomes.found).toBeGreaterThan(0);
    console.log(
      `slow shard drill: baseline p50 ${percentile(baseline.latencies, 50).toFixed(1)} ms p99 ` +
        `${percentile(baseline.latencies, 99).toFixed(1)} ms; other shards during p50 ` +
        `${percentile(fastDuring.latencies, 50).toFixed(1)} ms p99 ${percentile(fastDuring.latencies, 99).toFixed(1)} ms; ` +
        `slow shard during: ${slowDuring.outcomes.unavailable} fast failures of ${slowDuring.latencies.length}`,
    );
  });
});
