import type {
  BulkheadPolicy,
  CircuitBreakerPolicy,
  ICancellationContext,
  IPolicy,
  RetryPolicy,
  TimeoutPolicy,
} from 'cockatiel';
import { isTransientAwsError } from '../aws/transientAwsError.js';
import { isProgrammingError, isRetriable } from '../errors.js';
import {
  breaker,
  type CancellablePolicy,
  deadline,
  type ErrorFilter,
  orTimedOut,
  retryPolicy,
  retryWithAttemptDeadline,
  slots,
  wrap,
} from './builders.js';
import {
  type EtlSettings,
  type HealthCheckSettings,
  type KafkaPolicyOptions,
  type QuerySettings,
  type ReconciliationSettings,
  type ReplaySettings,
  type ResilienceSettings,
  SCALER_CALL_DEFAULTS,
  type ScalerCallSettings,
} from './defaults.js';

/** The numbers of a call retried with a deadline per attempt, as most tables name them. */
interface CallNumbers {
  readonly attemptTimeoutMillis: number;
  readonly retries: number;
  readonly retryInitialDelayMillis: number;
  readonly retryMaxDelayMillis: number;
}

const retriedCalls = (numbers: CallNumbers, handle: ErrorFilter): CancellablePolicy =>
  retryWithAttemptDeadline({
    attempts: numbers.retries,
    initialDelayMillis: numbers.retryInitialDelayMillis,
    maxDelayMillis: numbers.retryMaxDelayMillis,
    attemptTimeoutMillis: numbers.attemptTimeoutMillis,
    handle,
  });

// ---- Consumers

/**
 * The policy around one shard's transactions: jittered exponential retry of retriable errors inside a
 * circuit breaker, so a dead shard fails its records fast (they are redelivered later) while the other
 * shards keep flowing.
 */
export function shardWritePolicy(settings: ResilienceSettings, onBreak?: () => void): IPolicy {
  const retrying = retryPolicy({
    attempts: settings.shardRetryAttempts,
    initialDelayMillis: settings.shardRetryInitialDelayMillis,
    maxDelayMillis: settings.shardRetryMaxDelayMillis,
    handle: isRetriable,
  });
  const shardBreaker = breaker({
    threshold: settings.shardBreakerThreshold,
    halfOpenAfterMillis: settings.shardBreakerHalfOpenAfterMillis,
    handle: isRetriable,
  });
  if (onBreak !== undefined) shardBreaker.onBreak(onBreak);
  return wrap(shardBreaker, retrying);
}

/**
 * Redis is an accelerator, never a dependency: after a few failures it is skipped for a while.
 * `isRedisFailure` picks the errors that count (a database error passing through must not open it).
 */
export function redisPolicy(settings: ResilienceSettings, isRedisFailure: ErrorFilter = () => true): IPolicy {
  return breaker({
    threshold: settings.redisBreakerThreshold,
    halfOpenAfterMillis: settings.redisBreakerHalfOpenAfterMillis,
    handle: isRedisFailure,
  });
}

// ---- ETL

/**
 * Around every SQL call of the ETL (shards and warehouse): a timeout per attempt inside a jittered
 * exponential retry of retriable errors and timeouts. The next attempt takes another connection: the hung
 * one stays busy until the network gives it back. When the last attempt times out the caller gets
 * cockatiel's `TaskCancelledError`, which `asStepError` turns into `EtlTransientError`. No circuit
 * breaker: each invocation touches one shard once.
 */
export function etlSqlPolicy(settings: EtlSettings): IPolicy {
  return retryWithAttemptDeadline({
    attempts: settings.sqlRetries,
    initialDelayMillis: settings.sqlRetryInitialDelayMillis,
    maxDelayMillis: settings.sqlRetryMaxDelayMillis,
    attemptTimeoutMillis: settings.sqlTimeoutMillis,
    handle: orTimedOut(isRetriable),
  });
}

/** Around StartExecution: throttling, server faults and socket errors are retried with jittered backoff. */
export function startExecutionPolicy(settings: EtlSettings): IPolicy {
  return retryPolicy({
    attempts: settings.startRetries,
    initialDelayMillis: settings.startRetryInitialDelayMillis,
    maxDelayMillis: settings.startRetryMaxDelayMillis,
    handle: isTransientAwsError,
  });
}

// ---- AWS control planes: health checks and the consumer scaler

/** Runs one control-plane read; the context carries the attempt's abort signal, to be passed to the SDK. */
export type ControlPlanePolicy = CancellablePolicy;

/**
 * Idempotent control-plane reads: a timeout per attempt inside jittered exponential retries of timeouts
 * and retriable (classified) failures. No circuit breaker: a check runs a handful of reads once per
 * schedule tick, and each tick must report.
 */
export const controlPlaneReadPolicy = (settings: HealthCheckSettings): ControlPlanePolicy =>
  retriedCalls(settings, orTimedOut(isRetriable));

/**
 * Control-plane calls of the consumer scaler (Lambda, CloudWatch): a timeout per attempt inside jittered
 * retries of transient faults.
 */
export const scalerCallPolicy = (settings: ScalerCallSettings = SCALER_CALL_DEFAULTS): CancellablePolicy =>
  retriedCalls(settings, isTransientAwsError);

// ---- Kafka control plane and event log

/** Runs one outbound call to Kafka; the context carries the attempt's abort signal. */
export type KafkaPolicy = CancellablePolicy;

/**
 * Timeout per attempt inside jittered exponential retries of retriable errors and timeouts. No circuit
 * breaker: these calls run once per deployment, not under sustained load.
 */
export function kafkaPolicy(options: Readonly<KafkaPolicyOptions>): KafkaPolicy {
  return retryWithAttemptDeadline({
    attempts: options.retries,
    initialDelayMillis: options.initialDelayMs,
    maxDelayMillis: options.maxDelayMs,
    attemptTimeoutMillis: options.attemptTimeoutMs,
    handle: orTimedOut(isRetriable),
  });
}

/** The replay's calls to the event log: `kafkaPolicy`'s composition with the replay's numbers. */
export const eventLogCallPolicy = (settings: ReplaySettings): KafkaPolicy =>
  retriedCalls(settings, orTimedOut(isRetriable));

// ---- Reconciliation

/**
 * One call of a reconciliation step: a timeout per attempt inside jittered exponential retries of
 * timeouts and the failures `isTransient` accepts. The step turns what finally fails into its own errors.
 */
export const reconciliationCallPolicy = (
  settings: ReconciliationSettings,
  isTransient: ErrorFilter,
): CancellablePolicy => retriedCalls(settings, orTimedOut(isTransient));

// ---- Read path

/** Failures that say a shard is unwell: retriable database errors and timeouts, not our own load shedding. */
export const isShardFailure = orTimedOut(isRetriable);

/**
 * The caller stops waiting at the deadline. A completed attempt does not abort its signal: nothing
 * listens to it then, and every abort would build an exception with a stack trace on the hot path.
 */
const ATTEMPT_DEADLINE = { abortOnReturn: false } as const;

/** The policies around one shard's reads; `breaker` is exposed to tell whether the shard is skipped. */
export interface ShardReadPolicy {
  readonly policy: CancellablePolicy;
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
  const shardBreaker = breaker({
    threshold: settings.shardBreakerThreshold,
    halfOpenAfterMillis: settings.shardBreakerHalfOpenAfterMillis,
    handle: isShardFailure,
  });
  const shardSlots = slots({
    maxConcurrent: settings.shardMaxConcurrent,
    maxQueued: settings.shardMaxQueued,
  });
  const policy = wrap(
    shardBreaker,
    retryPolicy({
      attempts: settings.shardRetries,
      initialDelayMillis: settings.shardRetryInitialDelayMillis,
      maxDelayMillis: settings.shardRetryMaxDelayMillis,
      handle: isRetriable,
    }),
    deadline(settings.shardQueryTimeoutMillis, ATTEMPT_DEADLINE),
    shardSlots,
  );
  return { policy, breaker: shardBreaker, bulkhead: shardSlots };
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
  const indexBreaker = breaker({
    threshold: settings.redisBreakerThreshold,
    halfOpenAfterMillis: settings.redisBreakerHalfOpenAfterMillis,
    handle: (error) => !isProgrammingError(error),
  });
  const policy = wrap(indexBreaker, deadline(settings.redisTimeoutMillis, ATTEMPT_DEADLINE));
  return { policy, breaker: indexBreaker };
}

/** Bounds the scatter-gather look-ups of one process: each costs one query on every shard. */
export function fallbackBulkhead(settings: QuerySettings): BulkheadPolicy {
  return slots({ maxConcurrent: settings.fallbackMaxConcurrent, maxQueued: settings.fallbackMaxQueued });
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
    retry: retryPolicy({
      attempts: settings.warmupRetries,
      initialDelayMillis: settings.warmupRetryInitialDelayMillis,
      maxDelayMillis: settings.warmupRetryMaxDelayMillis,
      handle: (error) => !isProgrammingError(error),
    }),
    timeout: deadline(settings.warmupStepTimeoutMillis, ATTEMPT_DEADLINE),
  };
}
