import {
  BrokenCircuitError,
  type BulkheadPolicy,
  BulkheadRejectedError,
  bulkhead,
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type ICancellationContext,
  type IPolicy,
  type IRetryContext,
  IsolatedCircuitError,
  type RetryPolicy,
  retry,
  TaskCancelledError,
  type TimeoutPolicy,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { isRetriable } from '../resilience/policies.js';
import { ShardUnavailableError } from './errors.js';

/**
 * The numbers of the read path, in one place. Every shard and Redis get their own policy set built from
 * them, so one slow dependency cannot take the others' capacity. Tests pass smaller numbers.
 *
 * Budget of one look-up by id: 3 attempts of at most 1 s plus at most 2 × 250 ms of backoff, well inside
 * the 30 s of an API Gateway integration. A scan of all shards runs them in parallel, so it costs the same.
 */
export const QUERY_DEFAULTS = {
  /** One attempt of one shard read; the caller stops waiting then (PostgreSQL's statement timeout ends it). */
  shardQueryTimeoutMillis: 1_000,
  /** Repetitions of a read that failed retriably (connection lost, failover). Timeouts are not repeated. */
  shardRetries: 2,
  shardRetryInitialDelayMillis: 25,
  shardRetryMaxDelayMillis: 250,
  /** Consecutive failed or timed-out reads before a shard is skipped, and for how long. */
  shardBreakerThreshold: 5,
  shardBreakerHalfOpenAfterMillis: 5_000,
  /** Reads in flight per shard (the `pg` pool's size by default) and reads waiting for a slot. */
  shardMaxConcurrent: 8,
  shardMaxQueued: 32,
  /** One Redis command of a look-up; Redis answers in well under a millisecond when healthy. */
  redisTimeoutMillis: 250,
  /** Consecutive Redis failures before the index is bypassed, and for how long. */
  redisBreakerThreshold: 3,
  redisBreakerHalfOpenAfterMillis: 2_000,
  /** Scatter-gather look-ups (one query per shard each) in flight, and waiting, while the index is away. */
  fallbackMaxConcurrent: 8,
  fallbackMaxQueued: 16,
  /** What a shed look-up tells its caller to wait. */
  overloadRetryAfterSeconds: 1,
  /** How long a scatter-gather answer is reused; "nobody has it" is kept shorter, as it goes stale sooner. */
  fallbackCacheTtlMillis: 30_000,
  fallbackCacheNegativeTtlMillis: 5_000,
  fallbackCacheMaxEntries: 10_000,
  /** Index entries found while Redis was away, written back per batch once it is healthy. */
  writeThroughBatchSize: 100,
  /** Target length of one warm-up step: the page size is derived from it and the rate. */
  warmupStepMillis: 100,
  /** One warm-up step (a page of each shard into Redis), repeated with backoff when it fails. */
  warmupStepTimeoutMillis: 10_000,
  warmupRetries: 10,
  warmupRetryInitialDelayMillis: 100,
  warmupRetryMaxDelayMillis: 2_000,
  /** How often the warmer checks whether Redis is connected again. */
  warmupReadyPollMillis: 50,
} as const;

export type QuerySettings = { -readonly [K in keyof typeof QUERY_DEFAULTS]: number };

export const querySettings = (overrides: Partial<QuerySettings> = {}): QuerySettings => ({
  ...QUERY_DEFAULTS,
  ...overrides,
});

/** `TypeError` and `RangeError` are bugs: never retried, never counted against a dependency. */
export const isProgrammingError = (error: unknown): boolean =>
  error instanceof TypeError || error instanceof RangeError;

/** Failures that say a shard is unwell: retriable database errors and timeouts, not our own load shedding. */
export const isShardFailure = (error: unknown): boolean =>
  error instanceof TaskCancelledError || isRetriable(error);

/**
 * The caller stops waiting at the deadline. A completed attempt does not abort its signal: nothing
 * listens to it then, and every abort would build an exception with a stack trace on the hot path.
 */
const ATTEMPT_TIMEOUT = { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false } as const;

/** The policies around one shard's reads; `breaker` is exposed to tell whether the shard is skipped. */
export interface ShardReadPolicy {
  readonly policy: IPolicy<IRetryContext & ICancellationContext>;
  readonly breaker: CircuitBreakerPolicy;
  readonly bulkhead: BulkheadPolicy;
}

/**
 * Idempotent shard reads, outermost first: a breaker (a dead or hanging shard fails fast), jittered
 * exponential retries of retriable errors, a timeout per attempt, and a bulkhead. The timeout sits
 * outside the bulkhead: a caller stops waiting at the deadline, but the slot stays taken until the
 * database really ends the statement, so the bulkhead bounds the real load on the shard.
 */
export function shardReadPolicy(settings: QuerySettings): ShardReadPolicy {
  const breaker = circuitBreaker(handleWhen(isShardFailure), {
    halfOpenAfter: settings.shardBreakerHalfOpenAfterMillis,
    breaker: new ConsecutiveBreaker(settings.shardBreakerThreshold),
  });
  const retrying = retry(handleWhen(isRetriable), {
    maxAttempts: settings.shardRetries,
    backoff: new ExponentialBackoff({
      initialDelay: settings.shardRetryInitialDelayMillis,
      maxDelay: settings.shardRetryMaxDelayMillis,
    }),
  });
  const slots = bulkhead(settings.shardMaxConcurrent, settings.shardMaxQueued);
  const policy = wrap(breaker, retrying, timeout(settings.shardQueryTimeoutMillis, ATTEMPT_TIMEOUT), slots);
  return { policy, breaker, bulkhead: slots };
}

/** The policies around the Redis index; `breaker` tells whether the index is bypassed. */
export interface RedisReadPolicy {
  readonly policy: IPolicy<ICancellationContext>;
  readonly breaker: CircuitBreakerPolicy;
}

/**
 * Redis is an accelerator, never a dependency: a timeout per command (its signal aborts the command,
 * see `withDeadline`) inside a breaker that bypasses the index for a while after a few failures.
 */
export function redisReadPolicy(settings: QuerySettings): RedisReadPolicy {
  const breaker = circuitBreaker(
    handleWhen((error) => !isProgrammingError(error)),
    {
      halfOpenAfter: settings.redisBreakerHalfOpenAfterMillis,
      breaker: new ConsecutiveBreaker(settings.redisBreakerThreshold),
    },
  );
  const policy = wrap(breaker, timeout(settings.redisTimeoutMillis, ATTEMPT_TIMEOUT));
  return { policy, breaker };
}

/** Bounds the scatter-gather look-ups of one process: each costs one query on every shard. */
export function fallbackBulkhead(settings: QuerySettings): BulkheadPolicy {
  return bulkhead(settings.fallbackMaxConcurrent, settings.fallbackMaxQueued);
}

/** The policies of the index warm-up (see `warmupStepPolicy`). */
export interface WarmupStepPolicy {
  /** Repeats a failed step; stops repeating once the warm-up's signal aborts. */
  readonly retry: RetryPolicy;
  /** Bounds one attempt; not linked to the warm-up's signal, so a step in flight always finishes. */
  readonly timeout: TimeoutPolicy;
}

/**
 * One warm-up step: a timeout per attempt, and jittered retries of anything but a bug (Redis
 * reconnecting, a shard failing over): steps are idempotent and resume from the cursors kept in Redis.
 * Kept apart rather than wrapped: stopping the warm-up must not abort a step half-way, which would leave
 * written pages uncounted.
 */
export function warmupStepPolicy(settings: QuerySettings): WarmupStepPolicy {
  return {
    retry: retry(
      handleWhen((error) => !isProgrammingError(error)),
      {
        maxAttempts: settings.warmupRetries,
        backoff: new ExponentialBackoff({
          initialDelay: settings.warmupRetryInitialDelayMillis,
          maxDelay: settings.warmupRetryMaxDelayMillis,
        }),
      },
    ),
    timeout: timeout(settings.warmupStepTimeoutMillis, ATTEMPT_TIMEOUT),
  };
}

/**
 * Translates what a shard's policy threw into `ShardUnavailableError`, or returns the error unchanged
 * when it is not about availability (a bug, a statement the database rejects).
 */
export function shardUnavailability(shardId: string, error: unknown, settings: QuerySettings): unknown {
  if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
    const wait = Math.ceil(settings.shardBreakerHalfOpenAfterMillis / 1000);
    return new ShardUnavailableError([shardId], 'circuit-open', Math.max(1, wait), { cause: error });
  }
  if (error instanceof TaskCancelledError) {
    return new ShardUnavailableError([shardId], 'timeout', 1, { cause: error });
  }
  if (error instanceof BulkheadRejectedError) {
    return new ShardUnavailableError([shardId], 'saturated', 1, { cause: error });
  }
  if (isRetriable(error)) return new ShardUnavailableError([shardId], 'unreachable', 1, { cause: error });
  return error;
}
