import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  fullJitterGenerator,
  handleWhen,
  type IBackoff,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
} from 'cockatiel';
import { INGEST_METRIC_NAMES } from '../contracts/index.js';
import { isRetriable } from '../errors.js';
import { BackpressureError } from './publisher.js';

/**
 * The numbers of the ingest path's resilience, in one place. Tests pass smaller ones through
 * `ingestPolicySettings(overrides)`.
 *
 * Latency budget of one accepted request, inside the ingest function's 10 s timeout and API Gateway's
 * 30 s integration limit: at most `publishDeadlineMillis` trying the brokers (time queued for a batch
 * included), then at most `spillDeadlineMillis` writing the durable spillover, so about 5.5 s in the worst
 * case and a few milliseconds when the brokers are healthy or the breaker is open.
 */
export const INGEST_POLICY_DEFAULTS = {
  /** Everything a request's events may spend on the brokers, from enqueue; past it they are spilled. */
  publishDeadlineMillis: 3_000,
  /** One produce request (kafkajs `requestTimeout` counterpart); a hung broker is abandoned after it. */
  publishAttemptTimeoutMillis: 1_000,
  /** Retries after the first attempt; the deadline usually ends them first. */
  publishRetries: 5,
  /** Exponential backoff with full jitter between attempts: random in [0, min(max, initial * 2^n)). */
  publishRetryInitialDelayMillis: 50,
  publishRetryMaxDelayMillis: 800,
  /** Consecutive failed attempts (publisher and drainer alike) that open the brokers' breaker. */
  brokerBreakerThreshold: 5,
  /** How long the open breaker sends everything to the spillover before one probe may pass. */
  brokerBreakerHalfOpenAfterMillis: 5_000,
  /** How long the first request of a batch waits for others, so concurrent requests share one produce. */
  batchLingerMillis: 5,
  /** Most events in one produce request. */
  batchMaxEvents: 500,
  /** Events waiting in memory for a batch; a request that does not fit goes to the spillover directly. */
  queueMaxEvents: 5_000,
  /** One spillover write; the whole write of a request, retries included, within `spillDeadlineMillis`. */
  spillAttemptTimeoutMillis: 1_000,
  spillRetries: 2,
  spillRetryInitialDelayMillis: 50,
  spillRetryMaxDelayMillis: 400,
  spillDeadlineMillis: 2_500,
  /** How old the publisher's view of the spillover depth may be (it decides whether new events spill). */
  spillDepthRefreshMillis: 1_000,
  /** Largest number of spilled events (the bound of `SpilloverBuffer`); past it requests get 503. */
  spillMaxEvents: 100_000,
  /** Retry-After of a 503 caused by a full spillover. */
  spillRetryAfterSeconds: 5,
  /** Events the drainer republishes per produce request (the probe is the first of them). */
  drainChunkEvents: 500,
  /** Pause of the drainer when the spillover is empty. */
  drainIdleIntervalMillis: 1_000,
  /**
   * Full-jitter exponential backoff of the drainer after a failed probe. Capped low: a probe is one small
   * produce request, the open breaker spaces them out anyway, and every second the drain starts late after
   * a recovery keeps new requests spilling.
   */
  drainBackoffInitialMillis: 500,
  drainBackoffMaxMillis: 5_000,
} as const;

export type IngestPolicySettings = { -readonly [K in keyof typeof INGEST_POLICY_DEFAULTS]: number };

export const ingestPolicySettings = (
  overrides: Partial<IngestPolicySettings> = {},
): IngestPolicySettings => ({
  ...INGEST_POLICY_DEFAULTS,
  ...overrides,
});

/** Metric names of the ingest path; the alarms refer to them. */
export const INGEST_METRICS = INGEST_METRIC_NAMES;

/** `TypeError`/`RangeError` are bugs: never retried, never spilled, never counted against the brokers. */
export const isProgrammingError = (error: unknown): boolean =>
  error instanceof TypeError || error instanceof RangeError;

/**
 * A failure that says the brokers are unavailable or slow: it counts against the breaker, and the
 * events are spilled instead of failing the request.
 */
export const isBrokerFailure = (error: unknown): boolean =>
  error instanceof TaskCancelledError || error instanceof BrokenCircuitError || isRetriable(error);

/** Spillover writes worth repeating: a full spillover is an answer, not a failure. */
const isSpillFailure = (error: unknown): boolean =>
  !(error instanceof BackpressureError) && (error instanceof TaskCancelledError || isRetriable(error));

/** Runs one call; `signal` is aborted when the call is abandoned (deadline or attempt timeout). */
export type GuardedCall<T> = (signal: AbortSignal) => Promise<T>;

/** The policies around the brokers and the spillover, shared by the publisher and the drainer. */
export interface BrokerPolicies {
  /** Opens after consecutive broker failures; the publisher spills and the drainer backs off while open. */
  readonly breaker: CircuitBreakerPolicy;
  /**
   * The publisher's produce: jittered retries inside the breaker, each attempt cut by the attempt timeout,
   * the whole cut by `deadline` (at most `publishDeadlineMillis`).
   * @throws {TaskCancelledError} when the deadline or the last attempt timed out.
   * @throws {BrokenCircuitError} when the breaker is open.
   */
  publish<T>(call: GuardedCall<T>, deadline?: AbortSignal): Promise<T>;
  /**
   * The drainer's produce: one attempt through the breaker (the drainer's own backoff is its retry).
   * @throws {TaskCancelledError} | {BrokenCircuitError} as `publish`.
   */
  probe<T>(call: GuardedCall<T>): Promise<T>;
  /**
   * A spillover write: jittered retries of retriable failures, each attempt and the whole bounded.
   * @throws {BackpressureError} unchanged (never retried): the spillover is full.
   */
  spill<T>(call: GuardedCall<T>): Promise<T>;
  /** Delays of the drainer after failed probes: exponential with full jitter. */
  drainBackoff(): IBackoff<unknown>;
}

/**
 * Builds the named policies of the ingest path from `settings`. The breaker sits inside the retry, so an
 * outage opens it after `brokerBreakerThreshold` failed attempts and the remaining retries stop at once.
 */
export function brokerPolicies(settings: IngestPolicySettings): BrokerPolicies {
  const breaker = circuitBreaker(handleWhen(isBrokerFailure), {
    halfOpenAfter: settings.brokerBreakerHalfOpenAfterMillis,
    breaker: new ConsecutiveBreaker(settings.brokerBreakerThreshold),
  });
  const attempt = timeout(settings.publishAttemptTimeoutMillis, TimeoutStrategy.Aggressive);
  const deadline = timeout(settings.publishDeadlineMillis, TimeoutStrategy.Aggressive);
  const publishRetry = retry(
    handleWhen((error) => !(error instanceof BrokenCircuitError) && isBrokerFailure(error)),
    {
      maxAttempts: settings.publishRetries,
      backoff: new ExponentialBackoff({
        generator: fullJitterGenerator,
        initialDelay: settings.publishRetryInitialDelayMillis,
        maxDelay: settings.publishRetryMaxDelayMillis,
      }),
    },
  );
  const spillAttempt = timeout(settings.spillAttemptTimeoutMillis, TimeoutStrategy.Aggressive);
  const spillDeadline = timeout(settings.spillDeadlineMillis, TimeoutStrategy.Aggressive);
  const spillRetry = retry(handleWhen(isSpillFailure), {
    maxAttempts: settings.spillRetries,
    backoff: new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: settings.spillRetryInitialDelayMillis,
      maxDelay: settings.spillRetryMaxDelayMillis,
    }),
  });
  const drainBackoff = new ExponentialBackoff({
    generator: fullJitterGenerator,
    initialDelay: settings.drainBackoffInitialMillis,
    maxDelay: settings.drainBackoffMaxMillis,
  });

  const throughBreaker = <T>(call: GuardedCall<T>, signal: AbortSignal): Promise<T> =>
    breaker.execute(({ signal: outer }) => attempt.execute(({ signal: own }) => call(own), outer), signal);

  return {
    breaker,
    publish: (call, signal) =>
      deadline.execute(
        ({ signal: whole }) =>
          publishRetry.execute(({ signal: retrying }) => {
            // A retry whose backoff outlived the deadline must not reach the brokers (nor the breaker).
            if (retrying.aborted) throw new TaskCancelledError('publish deadline passed');
            return throughBreaker(call, retrying);
          }, whole),
        signal,
      ),
    probe: (call) => throughBreaker(call, new AbortController().signal),
    spill: (call) =>
      spillDeadline.execute(({ signal: whole }) =>
        spillRetry.execute(({ signal: retrying }) => {
          if (retrying.aborted) throw new TaskCancelledError('spill deadline passed');
          return spillAttempt.execute(({ signal: own }) => call(own), retrying);
        }, whole),
      ),
    drainBackoff: () => drainBackoff.next(),
  };
}

export { BrokenCircuitError, TaskCancelledError };
