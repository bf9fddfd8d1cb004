import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type WiredQueryService, wireQueryService } from '../../lambdas/query/dependencies.js';
import { describeError } from '../../lambdas/shared/describeError.js';
import { IndexWarmer, type QueryStats, type WarmupProgress } from '../../lambdas/shared/query/index.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { waitFor } from '../services/index.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { loadCustomers, lookupsOf, truthOf } from './support/customers.js';
import { indexMismatches } from './support/shardState.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

const WORKERS = 20;
export const FALLBACK_MAX_CONCURRENT = 8;
export const WARMUP_RATE = 2_000;
const STEADY_MILLIS = 1_500;
export const MIN_LOAD_MILLIS = 6_000;

type Phase = 'steady' | 'outage' | 'warm-up' | 'warm';

export interface RedisOutageDetails {
  readonly customers: number;
  readonly loadMillis: number;
  readonly answered: Record<Phase, number>;
  readonly wrong: string[];
  readonly failed: string[];
  readonly statsAt: Partial<Record<Phase | 'end', QueryStats>>;
  readonly warmup: { readonly complete: boolean; readonly written: number; readonly elapsedMillis: number };
  readonly progress: WarmupProgress[];
  readonly shardIds: string[];
  readonly indexMismatches: string[];
}

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

/**
 * §4 Redis (the secondary index) fails: Redis is stopped under steady look-up load for `seconds`, started
 * again empty and warmed at the configured rate. Every look-up must be answered, and answered right; the
 * fallback scans stay within their bulkhead.
 */
export async function runRedisOutage(
  options: DrillOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<RedisOutageDetails>> {
  const customers = Math.max(10, Math.round((options.events ?? 6_000) / 3));
  const outageMillis = (options.seconds ?? 2.5) * 1_000;
  const logger = new Logger({ serviceName: 'query', logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: 'cdp', serviceName: 'query' });
  const started = performance.now();
  progress('starting PostgreSQL (4 shards) and Redis; loading customers and the index');
  const services = await LocalDataServices.start({ shards: 4, name: 'drill-redis' });
  let wired: WiredQueryService | undefined;
  try {
    await loadCustomers(services, { events: customers * 3, customers, seed: 31, customerPrefix: 'drill' });
    const truth = await truthOf(services);
    const lookups = lookupsOf(truth, 100);
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
    const redisServer = services.redis;
    if (redis === undefined || redisServer === undefined) throw new Error('the drill needs Redis');
    await new IndexWarmer({ redis, shards: wired.shards, logger, metrics }).warmUntilComplete({
      ratePerSecond: 1_000_000,
    });

    const service = wired.service;
    const answered: Record<Phase, number> = { steady: 0, outage: 0, 'warm-up': 0, warm: 0 };
    const wrong: string[] = [];
    const failed: string[] = [];
    const statsAt: Partial<Record<Phase | 'end', QueryStats>> = {};
    const warmupProgress: WarmupProgress[] = [];
    let phase: Phase = 'steady';
    let running = true;
    let calls = 0;
    const recorder = new Recorder(() => ({
      offered: calls,
      applied: Object.values(answered).reduce((a, b) => a + b, 0),
      errors: failed.length + wrong.length,
      lag: 0,
      degraded: service.stats().fallbackMode ? 1 : 0,
    }));

    const worker = async (w: number) => {
      const next = seeded(w + 1);
      while (running) {
        const lookup = lookups[Math.floor(next() * lookups.length)];
        if (lookup === undefined) continue;
        const current = phase;
        const callStarted = performance.now();
        calls += 1;
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
        recorder.latency(performance.now() - callStarted);
      }
    };
    const warmer = new IndexWarmer({ redis, shards: wired.shards, logger, metrics });
    const loadStarted = Date.now();

    // Steady load, Redis stopped, Redis back without its data, warm-up, steady load again.
    recorder.start();
    progress('steady look-up load');
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await sleep(STEADY_MILLIS);
    statsAt.steady = service.stats();
    phase = 'outage';
    progress(`Redis stopped for ${outageMillis / 1_000} s`);
    recorder.faultStarted('Redis stopped');
    await redisServer.stop();
    await sleep(outageMillis);
    statsAt.outage = service.stats();
    phase = 'warm-up';
    progress(`Redis back empty; warming ${truth.size} customers at ${WARMUP_RATE}/s`);
    await redisServer.start();
    recorder.faultEnded();
    const warmup = await warmer.warmUntilComplete({
      ratePerSecond: WARMUP_RATE,
      onProgress: (p) => warmupProgress.push(p),
    });
    statsAt['warm-up'] = service.stats();
    phase = 'warm';
    await sleep(Math.max(500, MIN_LOAD_MILLIS - (Date.now() - loadStarted)));
    running = false;
    await Promise.all(workers);
    await waitFor(() => service.stats().pendingWriteThrough === 0, {
      timeoutMs: 5_000,
      description: 'the entries found during the outage to be written through',
    });
    await service.idle();
    statsAt.end = service.stats();
    if (!statsAt.end.fallbackMode) recorder.mark('index warm, fallback off');
    const loadMillis = Date.now() - loadStarted;
    const timeline = await recorder.stop();
    const mismatches = await indexMismatches(redisServer.url, truth);

    const end = statsAt.end;
    const problems: string[] = [];
    if (failed.length > 0) problems.push(`${failed.length} look-ups failed: ${failed[0]}`);
    if (wrong.length > 0) problems.push(`${wrong.length} look-ups answered wrong: ${wrong[0]}`);
    if (end.fallbackRejected > 0)
      problems.push(`${end.fallbackRejected} look-ups shed by the fallback bulkhead`);
    if (end.maxConcurrentFallbacks > FALLBACK_MAX_CONCURRENT)
      problems.push(
        `${end.maxConcurrentFallbacks} fallback scans at once, past the bulkhead's ${FALLBACK_MAX_CONCURRENT}`,
      );
    if (mismatches.length > 0)
      problems.push(`${mismatches.length} index entries disagree with the shards after the warm-up`);
    const expectedWarmupSeconds = truth.size / WARMUP_RATE;
    return score({
      scenario: 'redis-outage',
      section: 4,
      title: 'Redis (the secondary index) fails',
      backend: 'PostgreSQL (4 shards), Redis (stopped and restarted empty), the query service',
      counts: {
        offered: calls,
        accepted: calls,
        applied: calls - failed.length,
        lost: failed.length,
        duplicateEffects: 0,
        deadLettered: 0,
      },
      alarm: {
        name: 'FallbackModeAlarm (look-ups bypass the index)',
        series: 'degraded',
        comparison: '>',
        threshold: 0,
        datapoints: 1,
      },
      bound: {
        description: `the index is warm again within the warm-up time at ${WARMUP_RATE}/s plus 10 s`,
        recoverWithinSeconds: expectedWarmupSeconds + 10,
      },
      affectedPath: 'query by email/phone',
      timeline,
      faults: recorder.faults,
      recoveredAt: recorder.markOf('index warm, fallback off'),
      wallSeconds: (performance.now() - started) / 1_000,
      problems,
      details: {
        customers: truth.size,
        loadMillis,
        answered,
        wrong,
        failed,
        statsAt,
        warmup: { complete: warmup.complete, written: warmup.written, elapsedMillis: warmup.elapsedMillis },
        progress: warmupProgress,
        shardIds: services.shardMap.shards.map((s) => s.id),
        indexMismatches: mismatches,
      },
    });
  } finally {
    await wired?.close();
    await services.stop();
  }
}
