import {
  type BulkheadPolicy,
  bulkhead,
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type ICancellationContext,
  type IPolicy,
  type IRetryContext,
  type RetryPolicy,
  retry,
  TaskCancelledError,
  type TimeoutPolicy,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';

/** Which failures a policy acts on (retries, or counts against a breaker). Anything else passes through. */
export type ErrorFilter = (error: Error) => boolean;

export interface RetryOptions {
  /** Repetitions after the first attempt (cockatiel's `maxAttempts`). */
  readonly attempts: number;
  readonly initialDelayMillis: number;
  readonly maxDelayMillis: number;
  readonly handle: ErrorFilter;
}

/**
 * Retries the failures `handle` accepts, with exponential backoff between attempts (cockatiel's default
 * decorrelated jitter).
 */
export function retryPolicy(options: RetryOptions): RetryPolicy {
  return retry(handleWhen(options.handle), {
    maxAttempts: options.attempts,
    backoff: new ExponentialBackoff({
      initialDelay: options.initialDelayMillis,
      maxDelay: options.maxDelayMillis,
    }),
  });
}

export interface DeadlineOptions {
  /**
   * Whether a completed call aborts its signal too (cockatiel's default). Off on hot paths: nothing
   * listens to the signal then, and every abort builds an exception with a stack trace.
   */
  readonly abortOnReturn?: boolean;
}

/**
 * Stops waiting after `millis` and aborts the call's signal.
 * @throws {TaskCancelledError} when the time is up.
 */
export function deadline(millis: number, options: DeadlineOptions = {}): TimeoutPolicy {
  return options.abortOnReturn === undefined
    ? timeout(millis, TimeoutStrategy.Aggressive)
    : timeout(millis, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: options.abortOnReturn });
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly threshold: number;
  /** How long it stays open before one call may probe the dependency. */
  readonly halfOpenAfterMillis: number;
  readonly handle: ErrorFilter;
}

/**
 * Opens after `threshold` consecutive failures that `handle` accepts.
 * @throws {BrokenCircuitError} while open.
 */
export function breaker(options: BreakerOptions): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(options.handle), {
    halfOpenAfter: options.halfOpenAfterMillis,
    breaker: new ConsecutiveBreaker(options.threshold),
  });
}

export interface SlotOptions {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
}

/**
 * Bounds the calls in flight and waiting.
 * @throws {BulkheadRejectedError} when both are full.
 */
export function slots(options: SlotOptions): BulkheadPolicy {
  return bulkhead(options.maxConcurrent, options.maxQueued);
}

/** Runs one call; the context carries the attempt's abort signal, to be passed to the client. */
export type CancellablePolicy = IPolicy<IRetryContext & ICancellationContext>;

export interface AttemptDeadlineOptions extends RetryOptions {
  /** One attempt; it is abandoned (and its signal aborted) when this is reached. */
  readonly attemptTimeoutMillis: number;
}

/**
 * A deadline per attempt inside jittered exponential retries. A timed-out attempt is repeated only when
 * `handle` accepts `TaskCancelledError` (see {@link orTimedOut}); the next attempt starts afresh.
 * @throws {TaskCancelledError} when the last attempt timed out.
 */
export function retryWithAttemptDeadline(options: AttemptDeadlineOptions): CancellablePolicy {
  return wrap(retryPolicy(options), deadline(options.attemptTimeoutMillis));
}

/** `handle`, or an attempt that timed out. */
export const orTimedOut =
  <E>(handle: (error: E) => boolean) =>
  (error: E): boolean =>
    error instanceof TaskCancelledError || handle(error);

export { wrap };
