import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type WiredQueryService, wireQueryService } from '../../lambdas/query/dependencies.js';
import { describeError } from '../../lambdas/shared/describeError.js';
import { ShardUnavailableError } from '../../lambdas/shared/query/index.js';
import { parseShardMap, ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { FaultProxy } from '../faults/index.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { sleep } from '../services/index.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { loadCustomers } from './support/customers.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

const SLOW_SHARD = 'shard-3';
export const LATENCY_MILLIS = 2_000;
const BASELINE_MILLIS = 1_500;
/** Reads already in flight through the proxy keep their delay (up to 2 x 2 s): they drain in this long. */
const DRAIN_MILLIS = 4_500;
const AFTER_MILLIS = 1_000;

export interface LoadOutcome {
  readonly calls: number;
  readonly found: number;
  readonly unavailable: number;
  readonly other: number;
  readonly reasons: Record<string, number>;
  readonly p50Millis: number;
  readonly p99Millis: number;
}

export interface SlowShardDetails {
  readonly baseline: LoadOutcome;
  /** Look-ups of customers on the healthy shards while shard-3 was slow. */
  readonly fastDuring: LoadOutcome;
  readonly slowDuring: LoadOutcome;
  /** How long a look-up on the slow shard took to fail while its breaker was open. */
  readonly failFastMillis: number;
  readonly failFastError: string;
  readonly slowAfter: LoadOutcome;
}

export const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

/**
 * §5 One service becomes slow: 2 s of latency on shard-3's connections for `seconds`, under load on every
 * shard. The other shards must keep their normal p99; shard-3 must fail fast behind its open breaker, then
 * recover once the latency is gone.
 */
export async function runSlowShard(
  options: DrillOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<SlowShardDetails>> {
  const events = options.events ?? 2_000;
  const slowMillis = (options.seconds ?? 3) * 1_000;
  const started = performance.now();
  progress('starting PostgreSQL (4 shards) and Redis; loading customers');
  const services = await LocalDataServices.start({ shards: 4, name: 'drill-slow-shard' });
  let proxy: FaultProxy | undefined;
  let wired: WiredQueryService | undefined;
  try {
    const traffic = await loadCustomers(services, {
      events,
      customers: Math.max(8, Math.round(events * 0.4)),
      seed: 17,
      customerPrefix: 'slow',
    });
    const slow = services.shardMap.shards.find((s) => s.id === SLOW_SHARD);
    const url = new URL(slow?.url ?? '');
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(url.port) });
    const faulty = proxy;
    const shardMap = parseShardMap({
      ...services.shardMap,
      shards: services.shardMap.shards.map((s) =>
        s.id === SLOW_SHARD ? { ...s, url: faulty.via(s.url ?? '') } : s,
      ),
    });
    const router = new ShardRouter(shardMap);
    wired = await wireQueryService({
      shardMap,
      logger: new Logger({ serviceName: 'query', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'query' }),
      settings: { shardQueryTimeoutMillis: 500, shardBreakerHalfOpenAfterMillis: 500 },
    });
    const service = wired.service;
    const customers = [...new Set(traffic.map((e) => e.customerId))];
    const ids = {
      fast: customers.filter((c) => router.shardFor(c).id !== SLOW_SHARD),
      slow: customers.filter((c) => router.shardFor(c).id === SLOW_SHARD),
    };
    const totals = { calls: 0, found: 0, errors: 0, circuitOpen: 0 };
    let circuitOpenBefore = 0;
    const recorder = new Recorder(() => {
      const degraded = totals.circuitOpen > circuitOpenBefore ? 1 : 0;
      circuitOpenBefore = totals.circuitOpen;
      return { offered: totals.calls, applied: totals.found, errors: totals.errors, lag: 0, degraded };
    });

    /** Look-ups by id for `duration`, from `workers` concurrent callers. */
    const load = async (customerIds: string[], durationMillis: number, workers = 8): Promise<LoadOutcome> => {
      const latencies: number[] = [];
      const outcomes = { found: 0, unavailable: 0, other: 0 };
      const reasons = new Map<string, number>();
      const until = performance.now() + durationMillis;
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          for (let i = w; performance.now() < until; i += workers) {
            const id = customerIds[i % customerIds.length] ?? '';
            const callStarted = performance.now();
            totals.calls += 1;
            try {
              if (await service.getById(id)) {
                outcomes.found += 1;
                totals.found += 1;
              } else outcomes.other += 1;
            } catch (error: unknown) {
              totals.errors += 1;
              if (error instanceof ShardUnavailableError) {
                outcomes.unavailable += 1;
                if (error.reason === 'circuit-open') totals.circuitOpen += 1;
                const key = `${error.shardIds.join(',')}:${error.reason}`;
                reasons.set(key, (reasons.get(key) ?? 0) + 1);
                // A caller backs off after a 503 instead of spinning on it.
                await sleep(20);
              } else outcomes.other += 1;
            }
            const latency = performance.now() - callStarted;
            latencies.push(latency);
            recorder.latency(latency);
          }
        }),
      );
      return {
        calls: latencies.length,
        ...outcomes,
        reasons: Object.fromEntries(reasons),
        p50Millis: Number(percentile(latencies, 50).toFixed(1)),
        p99Millis: Number(percentile(latencies, 99).toFixed(1)),
      };
    };

    recorder.start();
    progress('baseline load');
    const baseline = await load(ids.fast, BASELINE_MILLIS);

    // 2 s of latency on one shard while both groups of customers are looked up.
    progress(`${LATENCY_MILLIS} ms of latency on ${SLOW_SHARD} for ${slowMillis / 1_000} s`);
    recorder.faultStarted(`${LATENCY_MILLIS} ms latency on ${SLOW_SHARD}`);
    faulty.setLatency(LATENCY_MILLIS);
    const [fastDuring, slowDuring] = await Promise.all([
      load(ids.fast, slowMillis),
      load(ids.slow, slowMillis, 4),
    ]);
    const failFast = performance.now();
    const failFastError = await service.getById(ids.slow[0] ?? '').then(
      () => 'answered',
      (error: unknown) => describeError(error),
    );
    const failFastMillis = performance.now() - failFast;
    faulty.setLatency(0);
    recorder.faultEnded();

    // Recovered once a look-up on shard-3 is answered again; in-flight slow reads drain meanwhile.
    progress('latency removed; waiting for the breaker to close');
    const restoredAt = performance.now();
    // Probing stops a second before the load resumes: a probe failing late would reopen the breaker.
    while (
      recorder.markOf('recovered') === undefined &&
      performance.now() - restoredAt < DRAIN_MILLIS - 1_000
    ) {
      const answered = await service.getById(ids.slow[0] ?? '').then(Boolean, () => false);
      if (answered) recorder.mark('recovered');
      else await sleep(200);
    }
    await sleep(DRAIN_MILLIS - (performance.now() - restoredAt));
    const slowAfter = await load(ids.slow, AFTER_MILLIS, 4);
    if (slowAfter.unavailable === 0 && slowAfter.found > 0) recorder.mark('recovered');
    const timeline = await recorder.stop();

    const problems: string[] = [];
    if (fastDuring.unavailable + fastDuring.other > 0)
      problems.push(`healthy shards failed ${fastDuring.unavailable + fastDuring.other} look-ups`);
    if (fastDuring.p99Millis >= Math.max(3 * baseline.p99Millis, 50))
      problems.push(
        `healthy shards' p99 rose to ${fastDuring.p99Millis} ms (baseline ${baseline.p99Millis} ms)`,
      );
    if (failFastMillis >= LATENCY_MILLIS) problems.push(`shard-3 did not fail fast (${failFastMillis} ms)`);
    if (slowAfter.unavailable > 0)
      problems.push(`shard-3 still refused ${slowAfter.unavailable} look-ups after`);
    return score({
      scenario: 'slow-shard',
      section: 5,
      title: 'One service becomes slow',
      backend: `PostgreSQL (4 shards, ${SLOW_SHARD} behind a latency proxy), Redis, the query service`,
      counts: {
        offered: totals.calls,
        accepted: totals.calls,
        applied: totals.found,
        lost: 0,
        duplicateEffects: 0,
        deadLettered: 0,
      },
      alarm: {
        name: 'query 503s (shard unavailable)',
        series: 'errorsPerSecond',
        comparison: '>',
        threshold: 0,
        datapoints: 1,
      },
      bound: {
        description: `${SLOW_SHARD} answers again within ${DRAIN_MILLIS / 1_000} s of the latency going`,
        recoverWithinSeconds: DRAIN_MILLIS / 1_000,
      },
      affectedPath: 'query by id',
      timeline,
      faults: recorder.faults,
      recoveredAt: recorder.markOf('recovered'),
      wallSeconds: (performance.now() - started) / 1_000,
      problems,
      details: {
        baseline,
        fastDuring,
        slowDuring,
        failFastMillis: Math.round(failFastMillis),
        failFastError,
        slowAfter,
      },
    });
  } finally {
    await wired?.close();
    await proxy?.close();
    await services.stop();
  }
}
