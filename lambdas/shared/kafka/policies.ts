import {
  ExponentialBackoff,
  handleWhen,
  type ICancellationContext,
  type IPolicy,
  type IRetryContext,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { isRetriable } from './errors.js';

export interface KafkaPolicyOptions {
  /** Upper bound of one attempt; the attempt is abandoned (and its signal aborted) when it is reached. */
  readonly attemptTimeoutMs: number;
  /** Repetitions after the first attempt, only for retriable errors and timeouts. */
  readonly retries: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * GetBootstrapBrokers: the SDK already retries throttling and 5xx inside one attempt, so this only
 * bounds a hung connection to the Kafka API endpoint and gives it one more chance.
 */
export const BOOTSTRAP_POLICY: Readonly<KafkaPolicyOptions> = {
  attemptTimeoutMs: 15_000,
  retries: 1,
  initialDelayMs: 1_000,
  maxDelayMs: 5_000,
};

/**
 * One reconciliation of topics (describe, plan, apply). It is idempotent, since each attempt plans from
 * what the cluster has at that moment, so a timed-out attempt is safe to repeat. Three attempts of at
 * most 90 s plus backoff stay within the topic manager's function timeout.
 */
export const TOPIC_RECONCILE_POLICY: Readonly<KafkaPolicyOptions> = {
  attemptTimeoutMs: 90_000,
  retries: 2,
  initialDelayMs: 1_000,
  maxDelayMs: 10_000,
};

/** Runs one outbound call; the context carries the attempt's abort signal. */
export type KafkaPolicy = IPolicy<IRetryContext & ICancellationContext>;

const isRetriableOrTimeout = (error: Error): boolean =>
  error instanceof TaskCancelledError || isRetriable(error);

/**
 * Timeout per attempt inside jittered exponential retries. No circuit breaker: these calls run once per
 * deployment, not under sustained load.
 */
export function kafkaPolicy(options: Readonly<KafkaPolicyOptions>): KafkaPolicy {
  return wrap(
    retry(handleWhen(isRetriableOrTimeout), {
      maxAttempts: options.retries,
      backoff: new ExponentialBackoff({ initialDelay: options.initialDelayMs, maxDelay: options.maxDelayMs }),
    }),
    timeout(options.attemptTimeoutMs, TimeoutStrategy.Aggressive),
  );
}
