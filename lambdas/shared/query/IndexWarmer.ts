import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { QUERY_METRIC_NAMES } from '../contracts/index.js';
import { isProgrammingError } from '../errors.js';
import { CustomerIndex } from '../index/CustomerIndex.js';
import { type RebuildProgress, rebuildIndexStep } from '../index/rebuildIndex.js';
import { type RedisClient, withDeadline } from '../redis/createRedisClient.js';
import { type QuerySettings, querySettings } from '../resilience/defaults.js';
import { type WarmupStepPolicy, warmupStepPolicy } from '../resilience/named.js';
import type { SqlClient } from '../sql/index.js';
import { IndexWarmupError } from './errors.js';

/** Customers written to the index by the warm-up, per step (Count). */
export const INDEX_WARMUP_PROGRESS_METRIC = QUERY_METRIC_NAMES.indexWarmupProgress;

export interface IndexWarmerDependencies {
  readonly redis: RedisClient;
  /** Read at every step: a failover watcher may replace a shard's client meanwhile. */
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings?: Partial<QuerySettings>;
}

export interface WarmupProgress {
  /** Customers written by this run so far. */
  readonly written: number;
  /** Customers written by the last step. */
  readonly step: number;
  readonly complete: boolean;
  /** Since the first step started (Redis connected). */
  readonly elapsedMillis: number;
}

export interface WarmupOptions {
  /**
   * The most customers per second written to the index: a ceiling on the average since the first step,
   * with bursts of at most one step (`warmupStepMillis` worth of customers).
   */
  readonly ratePerSecond: number;
  /** Stops the warm-up between steps; it then resolves incomplete (a later run resumes from the cursors). */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: WarmupProgress) => void;
}

export interface WarmupResult {
  readonly complete: boolean;
  readonly written: number;
  readonly steps: number;
  readonly elapsedMillis: number;
}

const aborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

/** Sleeps, but wakes up (resolving false) when `signal` aborts. */
async function pause(millis: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (millis <= 0) return !aborted(signal);
  try {
    await sleep(millis, undefined, signal === undefined ? undefined : { signal });
    return true;
  } catch (error: unknown) {
    if (aborted(signal)) return false;
    throw error;
  }
}

/**
 * Fills the Redis index from the shards after Redis lost its data, gradually: steps of
 * `rebuildIndexStep` (a page of every shard each), paced so that the customers written never exceed
 * `ratePerSecond` on average, which keeps the extra load on the shards and Redis bounded while they also
 * serve traffic. Progress lives in Redis (cursors), so a warm-up cut short resumes where it stopped.
 * Look-ups meanwhile write through what they find (see `CustomerQueryService`).
 */
export class IndexWarmer {
  private readonly settings: QuerySettings;
  private readonly stepPolicy: WarmupStepPolicy;

  public constructor(private readonly deps: IndexWarmerDependencies) {
    this.settings = querySettings(deps.settings);
    this.stepPolicy = warmupStepPolicy(this.settings);
    this.stepPolicy.retry.onRetry((failure) => {
      if ('error' in failure) {
        deps.logger.warn('index warm-up step failed; retrying', {
          attempt: failure.attempt,
          error: failure.error,
        });
      }
    });
  }

  /**
   * Waits until Redis is connected, then warms the index until complete, or until `signal` aborts.
   * @throws {RangeError} when the rate is not a positive number.
   * @throws {IndexWarmupError} when a step keeps failing after its retries (retriable: run it again).
   */
  public async warmUntilComplete(options: WarmupOptions): Promise<WarmupResult> {
    const { ratePerSecond: rate, signal, onProgress } = options;
    if (!Number.isFinite(rate) || rate <= 0)
      throw new RangeError(`ratePerSecond must be positive, got ${rate}`);
    let written = 0;
    let steps = 0;
    if (!(await this.untilReady(signal))) return { complete: false, written, steps, elapsedMillis: 0 };
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const incomplete = (): WarmupResult => ({ complete: false, written, steps, elapsedMillis: elapsed() });
    this.deps.logger.info('index warm-up started', { ratePerSecond: rate });
    while (!aborted(signal)) {
      // rebuildIndexStep writes up to pageSize customers of every shard per step.
      const shards = Math.max(1, this.deps.shards.size);
      const pageSize = Math.max(1, Math.floor((rate * this.settings.warmupStepMillis) / 1000 / shards));
      const progress = await this.step(pageSize, signal);
      steps += 1;
      written += progress.written;
      if (progress.written > 0) {
        this.deps.metrics.addMetric(INDEX_WARMUP_PROGRESS_METRIC, MetricUnit.Count, progress.written);
      }
      onProgress?.({
        written,
        step: progress.written,
        complete: progress.complete,
        elapsedMillis: elapsed(),
      });
      if (progress.complete) {
        this.deps.logger.info('index warm-up complete', { written, steps, elapsedMillis: elapsed() });
        return { complete: true, written, steps, elapsedMillis: elapsed() };
      }
      // The next step starts once everything written so far fits the rate.
      const due = (written / rate) * 1000;
      // Timers may fire a little early: wait until the time has really come, so the rate stays a ceiling.
      while (elapsed() < due) if (!(await pause(Math.ceil(due - elapsed()), signal))) return incomplete();
    }
    return incomplete();
  }

  private async untilReady(signal: AbortSignal | undefined): Promise<boolean> {
    while (!this.deps.redis.isReady) {
      if (!(await pause(this.settings.warmupReadyPollMillis, signal))) return false;
    }
    return !aborted(signal);
  }

  private async step(pageSize: number, signal: AbortSignal | undefined): Promise<RebuildProgress> {
    try {
      return await this.stepPolicy.retry.execute(
        () =>
          this.stepPolicy.timeout.execute(({ signal: deadline }) => {
            // Every command of the step listens to the step's deadline.
            setMaxListeners(0, deadline);
            return rebuildIndexStep(
              new CustomerIndex(withDeadline(this.deps.redis, deadline)),
              this.deps.shards,
              pageSize,
            );
          }),
        signal,
      );
    } catch (error: unknown) {
      if (isProgrammingError(error)) throw error;
      // Stopped on purpose: the loop sees the signal and reports the warm-up incomplete.
      if (aborted(signal)) return { complete: false, written: 0 };
      throw new IndexWarmupError('index warm-up step kept failing', { cause: error, context: { pageSize } });
    }
  }
}
