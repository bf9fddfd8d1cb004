import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  wrap,
} from 'cockatiel';
import { isRetriable } from '../errors.js';

/**
 * Every outbound dependency gets its own named policy, built here from named numbers, so one slow or
 * failing dependency cannot exhaust the others and the settings are reviewed in one place. Tests pass
 * smaller numbers through `overrides`.
 */
export const RESILIENCE_DEFAULTS = {
  /** Shard writes: retried inside the invocation to ride out a failover or a resume. */
  shardRetryAttempts: 3,
  shardRetryInitialDelayMillis: 50,
  shardRetryMaxDelayMillis: 1_000,
  /** Consecutive failed transactions before a shard's breaker opens, and how long it stays open. */
  shardBreakerThreshold: 5,
  shardBreakerHalfOpenAfterMillis: 5_000,
  /** Redis (idempotency store, index): consecutive failures before it is bypassed, and for how long. */
  redisBreakerThreshold: 3,
  redisBreakerHalfOpenAfterMillis: 2_000,
} as const;

export type ResilienceSettings = { -readonly [K in keyof typeof RESILIENCE_DEFAULTS]: number };

export const resilienceSettings = (overrides: Partial<ResilienceSettings> = {}): ResilienceSettings => ({
  ...RESILIENCE_DEFAULTS,
  ...overrides,
});

/** Errors that carry `retriable: true` (our own error classes, classified adapter errors). */
export { isRetriable };

/**
 * The policy around one shard's transactions: jittered exponential retry of retriable errors inside a
 * circuit breaker, so a dead shard fails its records fast (they are redelivered later) while the other
 * shards keep flowing.
 */
export function shardWritePolicy(settings: ResilienceSettings, onBreak?: () => void): IPolicy {
  const retrying = retry(handleWhen(isRetriable), {
    maxAttempts: settings.shardRetryAttempts,
    backoff: new ExponentialBackoff({
      initialDelay: settings.shardRetryInitialDelayMillis,
      maxDelay: settings.shardRetryMaxDelayMillis,
    }),
  });
  const breaker = circuitBreaker(handleWhen(isRetriable), {
    halfOpenAfter: settings.shardBreakerHalfOpenAfterMillis,
    breaker: new ConsecutiveBreaker(settings.shardBreakerThreshold),
  });
  if (onBreak !== undefined) breaker.onBreak(onBreak);
  return wrap(breaker, retrying);
}

/**
 * Redis is an accelerator, never a dependency: after a few failures it is skipped for a while.
 * `isRedisFailure` picks the errors that count (a database error passing through must not open it).
 */
export function redisPolicy(
  settings: ResilienceSettings,
  isRedisFailure: (error: Error) => boolean = () => true,
): IPolicy {
  return circuitBreaker(handleWhen(isRedisFailure), {
    halfOpenAfter: settings.redisBreakerHalfOpenAfterMillis,
    breaker: new ConsecutiveBreaker(settings.redisBreakerThreshold),
  });
}

export { BrokenCircuitError };
